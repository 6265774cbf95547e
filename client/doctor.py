"""The transport doctor: probe the path to a server and recommend a transport.

Steps, each timed: the server answers HTTP; a WebSocket upgrade and echo; SSE events
delivered as sent or bunched by a buffering middlebox (two events 1 s apart that arrive
together); a long-poll; the idle timeout on the path, by probing quiet keep-alive
connections of growing length at once and bisecting between the longest that lived and the
shortest that died, within a time budget. The verdict (`recommend`) is a pure function of
the findings and the server's keep-alive settings (`/api/config`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from client.urls import endpoint

__all__ = [
    "LONG_POLL_WAIT_S",
    "Findings",
    "IdleProbe",
    "Step",
    "diagnose",
    "recommend",
]

LONG_POLL_WAIT_S = 25.0  # what `room --via http` and the page hold a long-poll for
STEP_TIMEOUT_S = 10.0


@dataclass(slots=True)
class Step:
    """One probe: its name, whether it worked, how long it took, and what it saw."""

    name: str
    ok: bool
    ms: float
    detail: str


@dataclass(slots=True)
class IdleProbe:
    """The idle timeout on the path: `cut_s` when a cut was seen (the connection was closed
    on us), else between `alive_s` (longest quiet time survived) and `dead_s`."""

    budget_s: float
    alive_s: float = 0.0
    dead_s: float | None = None
    cut_s: float | None = None

    @property
    def timeout_s(self) -> float | None:
        """The best estimate of the timeout, or None if none was found within the budget."""
        if self.cut_s is not None:
            return self.cut_s
        return self.dead_s

    def text(self) -> str:
        """For people."""
        if self.cut_s is not None:
            return f"connections quiet for {self.cut_s:.1f} s are cut (the close was seen)"
        if self.dead_s is not None:
            return (
                f"quiet connections die between {self.alive_s:.1f} and {self.dead_s:.1f} s "
                "(dropped silently: found by bisection)"
            )
        return f"no idle timeout up to {self.budget_s:g} s (the probe's budget)"


@dataclass(slots=True)
class Findings:
    """Everything the doctor learnt."""

    steps: list[Step] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    sse_buffered: bool | None = None
    idle: IdleProbe | None = None

    def ok(self, name: str) -> bool:
        """Did the step called `name` work?"""
        return any(step.name == name and step.ok for step in self.steps)


async def diagnose(session: aiohttp.ClientSession, base: URL, *, idle_budget_s: float) -> Findings:
    """Run every step against `base` (an idle budget of 0 skips the idle probe)."""
    findings = Findings()
    findings.config = await _timed(findings, "http", _http(session, base))
    await _timed(findings, "websocket", _websocket(session, base))
    findings.sse_buffered = await _timed(findings, "sse", _sse(session, base))
    await _timed(findings, "long-poll", _long_poll(session, base))
    if idle_budget_s > 0 and base.scheme == "http":
        started = time.perf_counter()
        findings.idle = await find_idle_timeout(base, idle_budget_s)
        ms = (time.perf_counter() - started) * 1000
        findings.steps.append(Step("idle timeout", True, ms, findings.idle.text()))
    return findings


async def _timed(findings: Findings, name: str, probe: Any) -> Any:
    """Run `probe` (a coroutine returning (result, detail)); record the step."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            result, detail = await probe
        ok = True
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        result, detail, ok = None, _why(name, exc), False
    findings.steps.append(Step(name, ok, (time.perf_counter() - started) * 1000, detail))
    return result


def _why(name: str, exc: BaseException) -> str:
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return (
            f"the upgrade was refused (HTTP {exc.status}): something on the path strips "
            "Upgrade, or the server does not speak WebSocket here"
        )
    if isinstance(exc, TimeoutError):
        return f"nothing within {STEP_TIMEOUT_S:g} s"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "the connection was closed in the middle"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def _http(session: aiohttp.ClientSession, base: URL) -> tuple[dict[str, Any], str]:
    async with session.get(endpoint(base, "/api/config")) as response:
        response.raise_for_status()
        config = await response.json()
    return config, f"HTTP {response.status}: the server answers"


async def _websocket(session: aiohttp.ClientSession, base: URL) -> tuple[None, str]:
    async with session.ws_connect(endpoint(base, "/ws/echo"), autoping=True) as ws:
        await ws.send_str("doctor")
        message = await ws.receive()
        if message.type is not aiohttp.WSMsgType.TEXT or message.data != "doctor":
            raise ValueError(f"no echo: got {message.type.name}")
    return None, "upgraded (101) and echoed a message"


async def _sse(session: aiohttp.ClientSession, base: URL) -> tuple[bool, str]:
    """Two events 1 s apart: arriving together means a middlebox holds the stream."""
    url = endpoint(base, "/sse/stream", count=2, interval=1000)
    arrivals: list[float] = []
    sent: list[float] = []
    async with session.get(url) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"data:") and b'"ts"' in line:
                arrivals.append(time.time() * 1000)
                sent.append(float(json.loads(line[5:])["ts"]))
                if len(arrivals) == 2:
                    break
    if len(arrivals) < 2:
        raise ValueError("the stream ended before two events arrived")
    apart_sent, apart_arrived = sent[1] - sent[0], arrivals[1] - arrivals[0]
    buffered = apart_arrived < apart_sent / 2
    if buffered:
        return True, (
            f"buffered: two events sent {apart_sent:.0f} ms apart arrived {apart_arrived:.0f} "
            "ms apart; a middlebox holds the stream"
        )
    return False, f"delivered as sent: {apart_sent:.0f} ms apart, arrived {apart_arrived:.0f} ms"


async def _long_poll(session: aiohttp.ClientSession, base: URL) -> tuple[None, str]:
    async with session.get(endpoint(base, "/http/tick", interval=1000)) as response:
        response.raise_for_status()
        seq = (await response.json())["seq"]
    url = endpoint(base, "/http/tick", interval=1000, after=seq, wait=5)
    async with session.get(url) as response:
        response.raise_for_status()
        tick = await response.json()
    if tick["seq"] <= seq:
        raise ValueError("the long-poll returned without the next tick")
    return None, "held until the next tick, then answered"


async def find_idle_timeout(base: URL, budget_s: float, answer_s: float = 5.0) -> IdleProbe:
    """Quiet keep-alive connections of growing length, all at once; then one round of
    bisection between the longest that lived and the shortest that died. A request after
    the quiet spell that gets no answer within `answer_s` counts as dropped (silently, as
    a NAT that forgot the connection does)."""
    probe = IdleProbe(budget_s)
    lengths = [budget_s / 2**k for k in range(4, -1, -1)]  # budget/16 ... budget
    await _idle_round(base, lengths, probe, answer_s)
    if probe.cut_s is None and probe.dead_s is not None:
        low, high = probe.alive_s, probe.dead_s
        await _idle_round(base, [low + (high - low) * k / 4 for k in (1, 2, 3)], probe, answer_s)
    return probe


async def _idle_round(base: URL, lengths: list[float], probe: IdleProbe, answer_s: float) -> None:
    outcomes = await asyncio.gather(*(_quiet_for(base, s, answer_s) for s in lengths))
    for length, (alive, cut_at) in zip(lengths, outcomes, strict=True):
        if cut_at is not None:
            probe.cut_s = cut_at if probe.cut_s is None else min(probe.cut_s, cut_at)
        elif alive:
            probe.alive_s = max(probe.alive_s, length)
        else:
            probe.dead_s = length if probe.dead_s is None else min(probe.dead_s, length)


async def _quiet_for(base: URL, seconds: float, answer_s: float) -> tuple[bool, float | None]:
    """One request, `seconds` of silence, another request. (alive, seconds until a close
    was seen, if one was)."""
    host, port = base.host or "127.0.0.1", base.port or 80
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, TimeoutError):
        return False, None
    try:
        await _request(reader, writer, base, STEP_TIMEOUT_S)
        quiet_since = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            if await asyncio.wait_for(reader.read(1), seconds) == b"":
                return False, time.perf_counter() - quiet_since
        await _request(reader, writer, base, answer_s)
        return True, None
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
        return False, None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, base: URL, limit_s: float
) -> None:
    """GET /healthz on a kept-alive connection; raises unless a complete answer comes."""
    host = base.raw_authority
    writer.write(f"GET {base.path.rstrip('/')}/healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    async with asyncio.timeout(limit_s):
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Which protocol lives on this path, and why; `transport` is the recommendation."""

    survivors: dict[str, tuple[bool, str]]
    transport: str | None
    why: str


def recommend(findings: Findings) -> Verdict:
    """Who survives the path, given what was found and the server's keep-alive settings."""
    idle = findings.idle.timeout_s if findings.idle is not None else None
    heartbeat = float(findings.config.get("ws_heartbeat") or 0)
    ping = float(findings.config.get("sse_ping_interval") or 0)
    survivors = {
        "ws": _ws_lives(findings.ok("websocket"), heartbeat, idle),
        "sse": _sse_lives(findings.ok("sse"), findings.sse_buffered, ping, idle),
        "long-poll": _long_poll_lives(findings.ok("long-poll"), idle),
    }
    names = {"ws": "WebSocket", "sse": "SSE + POST", "long-poll": "HTTP long-poll"}
    for key, (lives, reason) in survivors.items():
        if lives:
            return Verdict(survivors, names[key], reason)
    if findings.ok("long-poll") and idle is not None:  # long-polling can always wait less
        wait = max(1, int(idle * 0.8))  # whole seconds, with room for the round trip
        return Verdict(
            survivors, f"HTTP long-poll with wait={wait}", f"below the {idle:.1f} s cut"
        )
    return Verdict(survivors, None, "no transport works on this path")


def _ws_lives(works: bool, heartbeat: float, idle: float | None) -> tuple[bool, str]:
    if not works:
        return False, "the upgrade fails on this path"
    if idle is None:
        return True, "upgrades and echoes; no idle timeout found (or not probed)"
    if 0 < heartbeat < idle:
        return True, f"the server pings every {heartbeat:g} s, inside the {idle:.1f} s timeout"
    return False, (
        f"a quiet socket is cut after {idle:.1f} s but the server pings every "
        f"{heartbeat:g} s: start it with --ws-heartbeat below {idle:.3g}"
        if heartbeat
        else f"no heartbeat: quiet sockets are cut after {idle:.1f} s"
    )


def _sse_lives(
    works: bool, buffered: bool | None, ping: float, idle: float | None
) -> tuple[bool, str]:
    if not works:
        return False, "the stream does not come through"
    if buffered:
        return False, "a middlebox holds the stream: events arrive in bursts, late"
    if idle is not None and not 0 < ping < idle:
        return (
            False,
            f"keep-alive comments every {ping:g} s, but quiet streams die at {idle:.1f} s",
        )
    return True, "events arrive as sent" + (
        f"; keep-alive comments every {ping:g} s beat the {idle:.1f} s timeout" if idle else ""
    )


def _long_poll_lives(works: bool, idle: float | None) -> tuple[bool, str]:
    if not works:
        return False, "the long-poll fails"
    if idle is not None and idle <= LONG_POLL_WAIT_S:
        return False, (
            f"a {LONG_POLL_WAIT_S:g} s wait is longer than the {idle:.1f} s idle timeout: "
            f"the request is cut; ask with wait below {idle:.3g} s"
        )
    return True, "a held request comes back; costs a request per message"
