"""The long-lived connections (WebSockets and SSE streams) that the server has open.

They are registered here for two reasons: the connection limits (`--max-connections` in
total, `--max-connections-per-ip` per client address), and shutdown, when every one of them
must be told to go (WebSocket close 1001, RFC 6455 §7.4.1 "going away"; SSE stream ended)
instead of being cut by the socket closing under it.

A connection takes its place with `hold(peer)` *before* anything is sent, so the check and
the registration are one step: two requests racing for the last place cannot both get it.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from aiohttp import WSCloseCode, web
from aiohttp_sse import EventSourceResponse

logger = logging.getLogger(__name__)

SHUTDOWN_REASON = b"server shutting down"


class LimitReason(StrEnum):
    """Which limit refused a connection (the key in `/api/stats` `refused`)."""

    TOTAL = "max_connections"
    PER_IP = "max_connections_per_ip"


class ConnectionLimitReached(Exception):
    """A connection limit is reached; `reason` says which one, `str()` says it to the user."""

    def __init__(self, message: str, reason: LimitReason) -> None:
        super().__init__(message)
        self.reason = reason


class Place:
    """One held place in the registry; `attach` the response once it exists."""

    __slots__ = ("connection", "peer", "transport")

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.connection: web.WebSocketResponse | EventSourceResponse | None = None
        self.transport: asyncio.BaseTransport | None = None

    def attach(
        self,
        connection: web.WebSocketResponse | EventSourceResponse,
        transport: asyncio.BaseTransport | None,
    ) -> None:
        """Say which response holds this place, so that shutdown can close it."""
        self.connection = connection
        self.transport = transport

    async def say_goodbye(self, grace_s: float) -> None:
        """End the stream, or close the WebSocket with 1001; cut a peer that will not take it."""
        if isinstance(self.connection, EventSourceResponse):
            self.connection.stop_streaming()
        elif isinstance(self.connection, web.WebSocketResponse):
            try:
                async with asyncio.timeout(grace_s):
                    await self.connection.close(
                        code=WSCloseCode.GOING_AWAY, message=SHUTDOWN_REASON
                    )
            except TimeoutError:  # a peer that does not read would hold shutdown up forever
                if isinstance(self.transport, asyncio.WriteTransport):
                    self.transport.abort()


class LiveConnections:
    """Open WebSockets and SSE streams, bounded by `limit` in total and `per_ip_limit` per
    client address (0 = no bound)."""

    def __init__(self, limit: int, per_ip_limit: int = 0) -> None:
        self._limit = limit
        self._per_ip_limit = per_ip_limit
        self._places: set[Place] = set()
        self._per_peer: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._places)

    def from_peer(self, peer: str) -> int:
        """How many connections `peer` holds now."""
        return self._per_peer[peer]

    def backlog_bytes(self) -> int:
        """Bytes written to open connections that their kernel buffers have not taken yet:
        what readers that do not keep up cost the server right now."""
        return sum(
            place.transport.get_write_buffer_size()
            for place in self._places
            if isinstance(place.transport, asyncio.WriteTransport)
            and not place.transport.is_closing()
        )

    def _admit(self, peer: str) -> None:
        if self._limit and len(self) >= self._limit:
            raise ConnectionLimitReached(
                f"the server holds its limit of {self._limit} connections; try again later",
                LimitReason.TOTAL,
            )
        if self._per_ip_limit and self._per_peer[peer] >= self._per_ip_limit:
            raise ConnectionLimitReached(
                f"your address holds its limit of {self._per_ip_limit} connections; "
                "close one or try again later",
                LimitReason.PER_IP,
            )

    @contextmanager
    def hold(self, peer: str) -> Iterator[Place]:
        """Hold a place for a connection from `peer` for the block.

        Raises `ConnectionLimitReached` (and holds nothing) when a limit is reached.
        """
        self._admit(peer)
        place = Place(peer)
        self._places.add(place)
        self._per_peer[peer] += 1
        try:
            yield place
        finally:
            self._places.discard(place)
            self._per_peer[peer] -= 1
            if not self._per_peer[peer]:
                del self._per_peer[peer]  # the counter must not grow with every address seen

    async def close_all(self, grace_s: float) -> None:
        """Tell every open connection that the server is going away, concurrently; a peer
        that has not taken its Close within `grace_s` seconds is cut off."""
        places = list(self._places)
        if places:
            logger.info("saying goodbye to %d connection(s)", len(places))
            await asyncio.gather(
                *(place.say_goodbye(grace_s) for place in places), return_exceptions=True
            )
