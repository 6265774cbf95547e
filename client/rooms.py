"""Taking part in a room over each protocol: the same shape, three wire conversations.

* WebSocket (`/ws/room/{room}`): one socket both ways; resume with `?after=<last id>`.
* SSE (`/sse/room/{room}`): messages down the event stream, resumed by `Last-Event-ID`;
  sending is an HTTP POST (`/http/room/{room}?via=sse`), since SSE has no upstream.
* HTTP (`/http/room/{room}`): long-poll `GET ?since=<last id>&wait=S` in a loop; send by POST.

Every link yields `RoomEvent`s and drops a message it has already seen (id not above the last
one), counting it, so a server that replays too much cannot make the user see it twice.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from client.errors import ConnectionLost, ProtocolFailure, StreamEnded, describe
from client.eventsource import EventSource
from client.reconnect import Reconnector, StateReport
from client.urls import endpoint
from client.wsconn import TRANSIENT_CLOSE_CODES, ResilientWebSocket

__all__ = ["RoomEvent", "RoomLink", "make_link"]

LONG_POLL_WAIT_S = 25
# A room subscriber dropped for being slow (1008) can come back and resume from history, and
# one closed for sending nothing (1000 "idle timeout") is still a member who wants to listen.
ROOM_RECONNECT_CODES = TRANSIENT_CLOSE_CODES | {1000, 1008}
_RETRY_AFTER_DEFAULT_S = 1.0


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """Something that happened in the room: a message, a gap in history, or an error."""

    kind: str  # "message" | "gap" | "error"
    message: dict[str, Any] = field(default_factory=dict)
    lost: int = 0
    error: str = ""


class RoomLink(ABC):
    """A membership of one room over one protocol."""

    via: str

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: URL,
        room: str,
        user: str,
        reconnector: Reconnector,
        report: StateReport,
        since: int | None,
    ) -> None:
        self.session = session
        self.base = base
        self.room = room
        self.user = user
        self.reconnector = reconnector
        self.report = report
        self.last_id = since
        self.duplicates = 0
        self.fresh = True  # no message yet on the current connection (or response)

    @abstractmethod
    async def start(self) -> None:
        """Join: make the first connection; raises `ClientError` if the server is unusable."""

    async def find_cursor(self) -> None:
        """Without `--since`, start after the room's latest message (live messages only).

        Knowing the cursor from the start means even the first reconnection resumes
        without a gap, whether or not a message has arrived yet.
        """
        if self.last_id is None:
            self.last_id = await self.room_last_id()

    async def room_last_id(self) -> int:
        """The id of the room's latest message (0 for a new room), from `/api/rooms`."""
        url = endpoint(self.base, "/api/rooms")
        try:
            async with self.session.get(url) as response:
                if response.status == 404:
                    raise ProtocolFailure(f"{self.base} has no rooms (GET /api/rooms: 404)")
                payload = await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise ConnectionLost(describe(exc)) from None
        for room in payload.get("rooms", []) if isinstance(payload, dict) else []:
            if isinstance(room, dict) and room.get("name") == self.room:
                return int(room.get("last_id", 0))
        return 0

    @abstractmethod
    def events(self) -> AsyncGenerator[RoomEvent, None]:
        """Room events in order until the link fails for good (raises `ClientError`)."""

    @abstractmethod
    async def send(self, text: str) -> None:
        """Publish `text` as `user`, waiting out rate limits and outages."""

    @abstractmethod
    async def close(self) -> None:
        """Leave the room."""

    async def history_was_reset(self) -> bool:
        """Before a reconnection: did the room's ids go back below our cursor?

        Rooms live in the server's memory, so a restarted server numbers from 1 again and
        a resume "after #57" would skip the new #1..#57. When that happened, the cursor
        goes back to 0 (the whole new history is new to us) and the user is told.
        """
        if not self.last_id:
            return False
        try:
            server_last_id = await self.room_last_id()
        except ConnectionLost:
            return False  # still unreachable: the attempt itself will say so
        if server_last_id >= self.last_id:
            return False
        self.report(
            "reset",
            f"the room's ids went back from #{self.last_id} to #{server_last_id}: the server "
            "lost its history (restarted?); following the new history from its start",
            last_id=self.last_id,
            server_last_id=server_last_id,
        )
        self.last_id = 0
        return True

    def accept(self, message: dict[str, Any]) -> bool:
        """True for a message not seen before (advances the cursor); counts repeats.

        A server resumes strictly after the cursor, so an id at or below it is a repeat --
        unless it opens a new connection (or long-poll answer): then the server has started
        a new life (restarted, ids from 1 again) and is replaying it from its start.
        """
        message_id = message.get("id")
        if not isinstance(message_id, int):
            return True
        fresh, self.fresh = self.fresh, False
        if self.last_id is not None and message_id <= self.last_id:
            if not fresh:
                self.duplicates += 1
                return False
            self.report(
                "reset",
                f"the room's ids went back from #{self.last_id} to #{message_id}: the server "
                "lost its history (restarted?); following the new history",
                last_id=self.last_id,
                server_last_id=message_id,
            )
        self.last_id = message_id
        return True

    async def post(self, text: str, via: str) -> dict[str, Any]:
        """POST the message to `/http/room/{room}?via=`; retries 429 after Retry-After."""
        url = endpoint(self.base, f"/http/room/{self.room}", via=via)
        body = {"user": self.user, "text": text}
        while True:
            try:
                async with self.session.post(url, json=body) as response:
                    payload = await response.json(content_type=None)
                    if response.status == 429:
                        delay = retry_after_s(response.headers.get("Retry-After"))
                        self.report(
                            "rate-limited",
                            f"the server rate-limits room messages; sending again in "
                            f"{delay:.1f} s",
                            delay_s=delay,
                        )
                        await asyncio.sleep(delay)  # the wait the server asked for
                        continue
                    if response.status != 201:
                        raise ProtocolFailure(_error_of(payload, response.status))
                    self.reconnector.connected()
                    return payload if isinstance(payload, dict) else {}
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                await self.reconnector.wait(f"sending failed: {describe(exc)}")


def retry_after_s(header: str | None) -> float:
    """The Retry-After header as seconds (delta-seconds form); 1 s when absent or a date."""
    try:
        return max(0.0, float(header)) if header is not None else _RETRY_AFTER_DEFAULT_S
    except ValueError:
        return _RETRY_AFTER_DEFAULT_S


def _error_of(payload: object, status: int) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return f"HTTP {status}: {payload['error']}"
    return f"HTTP {status}"


def _parse(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class WsRoomLink(RoomLink):
    """The room over one WebSocket."""

    via = "ws"

    async def start(self) -> None:
        await self.find_cursor()
        self._socket = ResilientWebSocket(
            self.session,
            self._url,
            self.reconnector,
            report=self.report,
            transient_codes=ROOM_RECONNECT_CODES,
            before_reconnect=self.history_was_reset,
        )
        await self._socket.start()

    def _url(self) -> URL:
        return endpoint(self.base, f"/ws/room/{self.room}", after=self.last_id)

    async def events(self) -> AsyncGenerator[RoomEvent, None]:
        generation = 0
        while True:
            item = await self._socket.inbox.get()
            if item.generation != generation:
                generation, self.fresh = item.generation, True
            if item.message is None:
                if (failure := self._socket.failure()) is not None:
                    raise failure
                continue
            payload = _parse(item.message.data) if isinstance(item.message.data, str) else None
            if payload is None:
                yield RoomEvent("error", error=f"unexpected frame: {item.message.data!r}"[:200])
            elif "error" in payload:
                yield RoomEvent("error", error=str(payload["error"]))
            elif "gap" in payload:
                yield RoomEvent("gap", lost=int(payload["gap"].get("lost", 0)))
            elif "id" not in payload:  # a notice: reset (new epoch) or broker (down / up)
                kind = next(iter(payload), "notice")
                self.report(kind, f"the server says: {kind} {json.dumps(payload[kind])}")
            elif self.accept(payload):
                yield RoomEvent("message", message=payload)

    async def send(self, text: str) -> None:
        while True:
            ws, _ = await self._socket.wait_open()
            try:
                await ws.send_str(json.dumps({"user": self.user, "text": text}))
                return
            except (aiohttp.ClientError, ConnectionError):
                await asyncio.sleep(0)  # let the reader notice the closed socket first

    async def close(self) -> None:
        await self._socket.close()


class SseRoomLink(RoomLink):
    """The room down an event stream, with messages sent by HTTP POST (`via=sse`)."""

    via = "sse"

    async def start(self) -> None:
        await self.find_cursor()
        url = endpoint(self.base, f"/sse/room/{self.room}")
        first = endpoint(self.base, f"/sse/room/{self.room}", after=self.last_id)
        self._source = EventSource(
            self.session,
            url,
            self.reconnector,
            report=self.report,
            first_url=first,
            before_reconnect=self._resume_id_after_reset,
        )
        await self._source.open()

    async def _resume_id_after_reset(self) -> str | None:
        # Last-Event-ID: 0 asks for the whole (new) history.
        return "0" if await self.history_was_reset() else None

    async def events(self) -> AsyncGenerator[RoomEvent, None]:
        connection = 0
        async with aclosing(self._source.events()) as events:
            async for event in events:
                if self._source.connections != connection:
                    connection, self.fresh = self._source.connections, True
                if event.type == "message":
                    payload = _parse(event.data)
                    if payload is not None and self.accept(payload):
                        yield RoomEvent("message", message=payload)
                elif event.type == "gap":
                    lost = (_parse(event.data) or {}).get("lost", 0)
                    yield RoomEvent("gap", lost=int(lost))
                elif event.type in ("reset", "broker"):
                    self.report(event.type, f"the server says: {event.type} {event.data}")
                elif event.type == "dropped":
                    reason = (_parse(event.data) or {}).get("reason", "unknown")
                    # The stream ends next; EventSource resumes with Last-Event-ID.
                    self.report("dropped", f"the server dropped this stream: {reason}")
        raise StreamEnded("the server closed the room stream (204)")

    async def send(self, text: str) -> None:
        await self.post(text, "sse")

    async def close(self) -> None:
        # The stream is released when the events() iterator is closed.
        return None


class HttpRoomLink(RoomLink):
    """The room by long-polling, with messages sent by HTTP POST (`via=http`)."""

    via = "http"

    async def start(self) -> None:
        await self.find_cursor()

    async def events(self) -> AsyncGenerator[RoomEvent, None]:
        url = endpoint(self.base, f"/http/room/{self.room}")
        failing = False
        while True:
            query = {"since": str(self.last_id or 0), "wait": str(LONG_POLL_WAIT_S)}
            try:
                async with self.session.get(url.with_query(query)) as response:
                    payload = await response.json(content_type=None)
                    lost = int(response.headers.get("X-Lost-Messages", "0") or 0)
                    if response.status != 200:
                        raise ProtocolFailure(_error_of(payload, response.status))
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                failing = True
                await self.reconnector.wait(f"long-poll failed: {describe(exc)}")
                await self.history_was_reset()
                continue
            if failing:
                failing = False
                self.reconnector.connected()
                self.report("open", f"polling {url} again", url=str(url))
            if lost:
                yield RoomEvent("gap", lost=lost)
            self.fresh = True
            for message in payload if isinstance(payload, list) else []:
                if isinstance(message, dict) and self.accept(message):
                    yield RoomEvent("message", message=message)

    async def send(self, text: str) -> None:
        await self.post(text, "http")

    async def close(self) -> None:
        # Nothing stays open between long-polls.
        return None


def make_link(via: str, *args: Any) -> RoomLink:
    """The `RoomLink` for protocol `via` ("ws", "sse" or "http")."""
    links: dict[str, type[RoomLink]] = {"ws": WsRoomLink, "sse": SseRoomLink, "http": HttpRoomLink}
    return links[via](*args)
