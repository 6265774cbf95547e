"""The long-lived connections (WebSockets and SSE streams) that the server has open.

They are registered here for two reasons: the `--max-connections` limit, and shutdown, when
every one of them must be told to go (WebSocket close 1001, RFC 6455 §7.4.1 "going away"; SSE
stream ended) instead of being cut by the socket closing under it.
"""

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import WSCloseCode, web
from aiohttp_sse import EventSourceResponse

logger = logging.getLogger(__name__)

SHUTDOWN_REASON = b"server shutting down"


class ConnectionLimitReached(Exception):
    """`--max-connections` long-lived connections are already open."""


class LiveConnections:
    """A registry of open WebSockets and SSE streams, bounded by `limit` (0 = no bound)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._websockets: set[web.WebSocketResponse] = set()
        self._streams: set[EventSourceResponse] = set()

    def __len__(self) -> int:
        return len(self._websockets) + len(self._streams)

    def _admit(self) -> None:
        if self._limit and len(self) >= self._limit:
            raise ConnectionLimitReached(
                f"the server holds its limit of {self._limit} connections"
            )

    @contextmanager
    def websocket(self, ws: web.WebSocketResponse) -> Iterator[None]:
        """Hold `ws` registered for the duration of the block; raises `ConnectionLimitReached`."""
        self._admit()
        self._websockets.add(ws)
        try:
            yield
        finally:
            self._websockets.discard(ws)

    @contextmanager
    def stream(self, sse: EventSourceResponse) -> Iterator[None]:
        """Hold `sse` registered for the duration of the block; raises `ConnectionLimitReached`."""
        self._admit()
        self._streams.add(sse)
        try:
            yield
        finally:
            self._streams.discard(sse)

    def check_capacity(self) -> None:
        """Raise `ConnectionLimitReached` if one more connection would exceed the limit."""
        self._admit()

    async def close_all(self) -> None:
        """Tell every open connection that the server is going away, concurrently."""
        for sse in list(self._streams):
            sse.stop_streaming()
        closing = [
            ws.close(code=WSCloseCode.GOING_AWAY, message=SHUTDOWN_REASON)
            for ws in list(self._websockets)
        ]
        if closing:
            logger.info("closing %d WebSocket(s) with 1001", len(closing))
            await asyncio.gather(*closing, return_exceptions=True)
