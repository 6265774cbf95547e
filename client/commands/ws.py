"""`ws`: send messages to the WebSocket echo (`GET /ws/echo`) and time each round trip.

One TCP connection, upgraded once; then each message is a frame up and the same frame back.
If the connection drops, the client reconnects with backoff and resends the message whose
echo had not arrived (at-least-once), marked "resent".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp

from client import messages
from client.commands.common import latency_fields, latency_text, make_reconnector, stdin_hint
from client.output import Output
from client.stdin import StdinLines
from client.urls import endpoint
from client.wsconn import ResilientWebSocket

__all__ = ["run"]


@dataclass(slots=True)
class EchoStats:
    """What the run did, for the closing summary."""

    sent: int = 0
    echoed: int = 0
    resent: int = 0
    mismatched: int = 0
    rtts_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Echo:
    """One completed round trip."""

    data: str | bytes
    rtt_ms: float
    resends: int


async def run(args: argparse.Namespace, session: aiohttp.ClientSession, out: Output) -> int:
    """Echo every message, printing each with its round-trip time; 0 when all came back."""
    url = endpoint(args.url, "/ws/echo")
    connection = ResilientWebSocket(
        session, lambda: url, make_reconnector(args, out), report=out.state
    )
    stats = EchoStats()
    listed = _listed_payloads(args)  # read a --file before connecting: fail early
    payloads = messages.from_iterable(listed) if listed is not None else _typed_payloads(args, out)
    await connection.start()
    try:
        async for payload in payloads:
            echo = await echo_once(connection, payload)
            _show(out, stats, payload, echo)
            if args.interval:
                await asyncio.sleep(args.interval / 1000)  # pacing asked for by the user
    finally:
        await connection.close()
        _summarize(out, stats, connection.reconnector.reconnects)
    return 0


async def echo_once(connection: ResilientWebSocket, payload: str | bytes) -> Echo:
    """Send `payload` and wait for its echo, resending after a reconnection if it was lost.

    Raises the `ClientError` that ended the connection for good, if one does.
    """
    resends = 0
    while True:
        ws, generation = await connection.wait_open()
        started = time.perf_counter()
        try:
            if isinstance(payload, bytes):
                await ws.send_bytes(payload)
            else:
                await ws.send_str(payload)
            sent = True
        except (aiohttp.ClientError, ConnectionError):
            sent = False  # the socket died under us; the reader will announce its end
        while True:
            item = await connection.inbox.get()
            if item.generation < generation:
                continue  # left over from an earlier connection
            if item.message is None:
                break
            if sent:
                elapsed_ms = (time.perf_counter() - started) * 1000
                return Echo(item.message.data, elapsed_ms, resends)
        if (failure := connection.failure()) is not None:
            raise failure
        resends += 1


def _listed_payloads(args: argparse.Namespace) -> list[str | bytes] | None:
    """The messages given by arguments, --file or --size; None means "read stdin"."""
    if args.size is not None:
        return messages.generated(args.size, args.count, binary=args.binary)
    if args.messages:
        return messages.repeat(args.messages, args.count, binary=args.binary)
    if args.file is not None:
        return messages.repeat(messages.file_lines(args.file), args.count, binary=args.binary)
    return None


async def _typed_payloads(args: argparse.Namespace, out: Output) -> AsyncIterator[str | bytes]:
    stdin_hint(out, "type a message and press Enter to send it; Ctrl-D or Ctrl-C to quit")
    async for line in StdinLines():
        for item in messages.repeat([line], args.count, binary=args.binary):
            yield item


def _show(out: Output, stats: EchoStats, payload: str | bytes, echo: Echo) -> None:
    stats.sent += 1 + echo.resends
    stats.resent += echo.resends
    stats.echoed += 1
    stats.rtts_ms.append(echo.rtt_ms)
    same = echo.data == payload
    stats.mismatched += not same
    flags = (" (resent)" if echo.resends else "") + ("" if same else " (ECHO DIFFERS)")
    fields: dict[str, object] = {
        "n": stats.echoed,
        "rtt_ms": round(echo.rtt_ms, 3),
        "bytes": len(echo.data.encode() if isinstance(echo.data, str) else echo.data),
        "resent": echo.resends,
        "matches": same,
    }
    if isinstance(echo.data, bytes):
        fields["data_base64"] = base64.b64encode(echo.data).decode()
    else:
        fields["data"] = echo.data
    out.record(
        "echo",
        f"echo {stats.echoed}: {messages.describe_payload(echo.data)}  "
        f"({echo.rtt_ms:.2f} ms){flags}",
        **fields,
    )


def _summarize(out: Output, stats: EchoStats, reconnects: int) -> None:
    line = (
        f"sent {stats.sent}, echoed {stats.echoed}, resent {stats.resent}, "
        f"reconnected {reconnects} time(s)"
    )
    lines = [line]
    if stats.rtts_ms:
        lines.append(latency_text(stats.rtts_ms))
    if stats.mismatched:
        lines.append(f"{stats.mismatched} echo(es) differed from what was sent")
    out.summary(
        lines,
        sent=stats.sent,
        echoed=stats.echoed,
        resent=stats.resent,
        mismatched=stats.mismatched,
        reconnects=reconnects,
        **latency_fields(stats.rtts_ms),
    )


def check_args(args: argparse.Namespace) -> str | None:
    """A usage error in the combination of options, or None."""
    sources = sum([bool(args.messages), args.file is not None, args.size is not None])
    if sources > 1:
        return "give messages as arguments, with --file, or with --size, not several at once"
    return None
