"""Small independent clients of the three room protocols, for the broker tests.

They speak only the wire contract (docs/api.md), like `python -m client` does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from client.sse_parser import EventStreamParser, ServerSentEvent

LIMIT_S = 15.0  # per wait; only reached if something is broken


class EventReader:
    """An SSE response read event by event, with a deadline on each wait."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        assert response.status == 200, response.status
        self.response = response
        self._parser = EventStreamParser()
        self._ready: list[ServerSentEvent] = []

    @classmethod
    async def open(
        cls, session: aiohttp.ClientSession, url: str, last_event_id: str | None = None
    ) -> EventReader:
        """GET the stream; returns once the server has subscribed (its `retry:` came)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        response = await session.get(url, headers=headers)
        async with asyncio.timeout(LIMIT_S):
            # The server subscribes first, then writes `retry:` (server/handlers/sse.py).
            await response.content.readuntil(b"\r\n\r\n")
        return cls(response)

    async def next(self) -> ServerSentEvent:
        """The next event (of any type)."""
        async with asyncio.timeout(LIMIT_S):
            while not self._ready:
                chunk = await self.response.content.readany()
                assert chunk, "the stream ended"
                self._ready.extend(self._parser.feed(chunk))
        return self._ready.pop(0)

    async def until(self, kind: str) -> ServerSentEvent:
        """The next event of type `kind`, skipping others."""
        while (event := await self.next()).type != kind:
            pass
        return event

    async def messages(self, count: int) -> list[dict[str, Any]]:
        """The next `count` room messages (notices skipped)."""
        return [json.loads((await self.until("message")).data) for _ in range(count)]

    def close(self) -> None:
        self.response.close()


async def post(
    session: aiohttp.ClientSession, base: str, room: str, text: str, via: str = "http"
) -> aiohttp.ClientResponse:
    """POST a message; the response is returned read (its JSON in `.json()`)."""
    async with session.post(
        f"{base}/http/room/{room}?via={via}", json={"user": "tester", "text": text}
    ) as response:
        await response.read()
        return response


async def post_ok(session: aiohttp.ClientSession, base: str, room: str, text: str) -> Any:
    response = await post(session, base, room, text)
    assert response.status == 201, await response.text()
    return await response.json()


async def poll_messages(
    session: aiohttp.ClientSession, base: str, room: str, count: int
) -> list[dict[str, Any]]:
    """Long-poll from the start of the room until `count` messages came."""
    seen: list[dict[str, Any]] = []
    cursor = "0"
    async with asyncio.timeout(LIMIT_S * 2):
        while len(seen) < count:
            url = f"{base}/http/room/{room}?since={cursor}&wait=5"
            async with session.get(url) as response:
                assert response.status == 200, await response.text()
                seen += await response.json()
                cursor = response.headers["X-Room-Cursor"]
    return seen


async def ws_messages(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    """The next `count` room messages on a room WebSocket (notices skipped)."""
    seen: list[dict[str, Any]] = []
    while len(seen) < count:
        frame = json.loads(await ws.receive_str(timeout=LIMIT_S))
        if "id" in frame:
            seen.append(frame)
    return seen


async def stats(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with session.get(f"{base}/api/stats") as response:
        return dict(await response.json())
