"""`room NAME --via ws|sse|http`: join a room, print its messages, send the lines you type.

The same conversation over three protocols (see `client/rooms.py`). At the end of input the
client waits (up to `--linger` seconds) until its own messages have come back, then leaves:
`echo hi | python -m client room lobby --via sse` sends, shows the round trip, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from client.commands.common import make_reconnector, stdin_hint
from client.output import Output
from client.rooms import RoomEvent, RoomLink, make_link
from client.stdin import StdinLines

__all__ = ["default_user", "run"]


@dataclass(slots=True)
class RoomStats:
    """What happened during the visit, and our messages still on their way back."""

    received: int = 0
    sent: int = 0
    lost: int = 0
    errors: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)
    all_back: asyncio.Event = field(default_factory=asyncio.Event)

    def sending(self, text: str) -> None:
        """Count a message of ours that should come back."""
        self.sent += 1
        self.in_flight[text] += 1
        self.all_back.clear()

    def arrived(self, user: str, me: str, text: str) -> None:
        """Count a received message; ours settles one in-flight copy."""
        self.received += 1
        if user == me and self.in_flight[text] > 0:
            self.in_flight[text] -= 1
            if not +self.in_flight:
                self.all_back.set()


def default_user() -> str:
    """The login name (cut to the server's 32 characters), or "cli"."""
    try:
        return getpass.getuser()[:32] or "cli"
    except (OSError, KeyError):
        return "cli"


async def run(args: argparse.Namespace, session: aiohttp.ClientSession, out: Output) -> int:
    """Take part until input ends (and our messages are back), `--max-messages`, or Ctrl-C."""
    link = make_link(
        args.via,
        session,
        args.url,
        args.name,
        args.user,
        make_reconnector(args, out),
        out.state,
        args.since,
    )
    stats = RoomStats()
    stats.all_back.set()
    await link.start()
    out.state(
        "joined",
        f"joined room {args.name!r} as {args.user!r} via {args.via}",
        room=args.name,
        user=args.user,
        via=args.via,
    )
    receiver = asyncio.create_task(_receive(link, out, stats, args), name="room-receiver")
    sender: asyncio.Task[None] | None = None
    try:
        if args.listen:
            await receiver
        else:
            sender = asyncio.create_task(_send_lines(link, stats, out), name="room-sender")
            await _until_done(receiver, sender, stats, args.linger, out)
    finally:
        for task in (sender, receiver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await link.close()
        _summarize(out, stats, link)
    return 0


async def _until_done(
    receiver: asyncio.Task[None],
    sender: asyncio.Task[None],
    stats: RoomStats,
    linger_s: float,
    out: Output,
) -> None:
    done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
    if receiver in done:
        receiver.result()  # raises why the room link failed, if it did
        return
    sender.result()
    waiting = asyncio.create_task(stats.all_back.wait())
    contenders: set[asyncio.Future[Any]] = {receiver, waiting}
    finished, _ = await asyncio.wait(
        contenders, timeout=linger_s, return_when=asyncio.FIRST_COMPLETED
    )
    waiting.cancel()
    if receiver in finished:
        receiver.result()
    elif not stats.all_back.is_set():
        missing = sum(stats.in_flight.values())
        out.warn(f"{missing} of your messages had not come back after {linger_s:g} s")


async def _send_lines(link: RoomLink, stats: RoomStats, out: Output) -> None:
    stdin_hint(out, "type a message and press Enter to send it; Ctrl-D or Ctrl-C to leave")
    async for line in StdinLines():
        text = line.strip()
        if text:
            stats.sending(text)
            await link.send(text)


async def _receive(
    link: RoomLink, out: Output, stats: RoomStats, args: argparse.Namespace
) -> None:
    async for event in link.events():
        _show(out, event, stats, args.user)
        if args.max_messages and stats.received >= args.max_messages:
            return


def _show(out: Output, event: RoomEvent, stats: RoomStats, me: str) -> None:
    if event.kind == "gap":
        stats.lost += event.lost
        out.record("gap", f"({event.lost} message(s) were lost from history)", lost=event.lost)
    elif event.kind == "error":
        stats.errors += 1
        out.record("error", f"server: {event.error}", error=event.error)
    else:
        message = event.message
        user, text = str(message.get("user", "?")), str(message.get("text", ""))
        stats.arrived(user, me, text)
        out.record(
            "message",
            f"#{message.get('id', '?')} {user} (via {message.get('via', '?')}): {text}",
            **message,
        )


def _summarize(out: Output, stats: RoomStats, link: RoomLink) -> None:
    out.summary(
        [
            f"received {stats.received}, sent {stats.sent}, lost {stats.lost}, "
            f"duplicates dropped {link.duplicates}, errors {stats.errors}, "
            f"reconnected {link.reconnector.reconnects} time(s), last id {link.last_id}"
        ],
        received=stats.received,
        sent=stats.sent,
        lost=stats.lost,
        duplicates=link.duplicates,
        errors=stats.errors,
        reconnects=link.reconnector.reconnects,
        last_id=link.last_id,
    )
