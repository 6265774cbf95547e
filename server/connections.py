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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import cast

from server.core.refusals import Reason, Unavailable

logger = logging.getLogger(__name__)

Goodbye = Callable[[float], Awaitable[None]]  # tells one connection to go, within a grace


class ConnectionLimitReached(Unavailable):
    """A connection limit is reached; `reason` says which one, `str()` says it to the user."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = reason


class Place:
    """One held place in the registry; `attach` the connection once it exists."""

    __slots__ = ("goodbye", "peer", "transport")

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.goodbye: Goodbye | None = None
        self.transport: asyncio.BaseTransport | None = None

    def attach(self, goodbye: Goodbye, transport: asyncio.BaseTransport | None) -> None:
        """Say how to tell this connection to go (shutdown), and which socket it holds."""
        self.goodbye = goodbye
        self.transport = transport

    async def say_goodbye(self, grace_s: float) -> None:
        """Tell the connection to go: WebSocket close 1001, SSE end of stream (server/wire/)."""
        if self.goodbye is not None:
            await self.goodbye(grace_s)


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
        # Duck-typed: uvloop's transports have the methods but not asyncio's classes.
        return sum(
            cast(asyncio.WriteTransport, place.transport).get_write_buffer_size()
            for place in self._places
            if place.transport is not None and not place.transport.is_closing()
        )

    def _admit(self, peer: str) -> None:
        if self._limit and len(self) >= self._limit:
            raise ConnectionLimitReached(
                f"the server holds its limit of {self._limit} connections; try again later",
                Reason.MAX_CONNECTIONS,
            )
        if self._per_ip_limit and self._per_peer[peer] >= self._per_ip_limit:
            raise ConnectionLimitReached(
                f"your address holds its limit of {self._per_ip_limit} connections; "
                "close one or try again later",
                Reason.MAX_CONNECTIONS_PER_IP,
            )

    def admit(self, peer: str) -> Place:
        """Take a place for a connection from `peer`; give it back with `release`.

        Raises `ConnectionLimitReached` (and takes nothing) when a limit is reached.
        """
        self._admit(peer)
        place = Place(peer)
        self._places.add(place)
        self._per_peer[peer] += 1
        return place

    def release(self, place: Place) -> None:
        """Give back a place taken by `admit` (once)."""
        if place not in self._places:
            return
        self._places.discard(place)
        peer = place.peer
        self._per_peer[peer] -= 1
        if not self._per_peer[peer]:
            del self._per_peer[peer]  # the counter must not grow with every address seen

    @contextmanager
    def hold(self, peer: str) -> Iterator[Place]:
        """`admit` a connection from `peer` for the block, and `release` it after."""
        place = self.admit(peer)
        try:
            yield place
        finally:
            self.release(place)

    async def close_all(self, grace_s: float) -> None:
        """Tell every open connection that the server is going away, concurrently; a peer
        that has not taken its Close within `grace_s` seconds is cut off."""
        places = list(self._places)
        if places:
            logger.info("saying goodbye to %d connection(s)", len(places))
            await asyncio.gather(
                *(place.say_goodbye(grace_s) for place in places), return_exceptions=True
            )
