"""A counting TCP relay on 127.0.0.1: what `bench overhead` measures with, and what
`bench reconnect` cuts.

Clients connect to the relay; for each connection it opens one to the server and copies bytes
both ways, counting them *as they are read* (so by the time a client has a reply, every byte
of it has been counted). It sees TCP payload only: the TCP/IP headers and the three-way
handshake are not counted. It never parses what it forwards.

``cut()`` aborts every connection in both directions and stops listening, as a crashed
server or a pulled cable would; ``restore()`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from yarl import URL

__all__ = ["ByteCounts", "CountingRelay"]

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ByteCounts:
    """Bytes copied client->server (`up`) and server->client (`down`), and connections."""

    up: int = 0
    down: int = 0
    connections: int = 0

    def __sub__(self, earlier: ByteCounts) -> ByteCounts:
        return ByteCounts(
            self.up - earlier.up,
            self.down - earlier.down,
            self.connections - earlier.connections,
        )


class CountingRelay:
    """Relays 127.0.0.1:<port> to `target_host`:`target_port`; use ``async with``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._port = 0
        self._server: asyncio.Server | None = None
        self._up = self._down = self._connections = 0
        self._pumps: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> CountingRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> URL:
        """`http://127.0.0.1:<port>`: use it as the client's server URL."""
        return URL.build(scheme="http", host="127.0.0.1", port=self._port)

    def counts(self) -> ByteCounts:
        """A snapshot of the totals so far."""
        return ByteCounts(self._up, self._down, self._connections)

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and abort every relayed connection (both sides see a reset)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        """Accept connections again, on the same port as before."""
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        """Stop everything: listening, relayed connections and their copying tasks."""
        await self.cut()
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()  # the client sees what it would see without a relay
            return
        self._connections += 1
        self._writers.update((writer, server_writer))
        up = self._spawn(self._copy(reader, server_writer, upstream=True))
        down = self._spawn(self._copy(server_reader, writer, upstream=False))
        try:
            await asyncio.gather(up, down, return_exceptions=True)
        finally:
            for side in (writer, server_writer):
                self._writers.discard(side)
                side.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)
        return task

    async def _copy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(_CHUNK):
                if upstream:
                    self._up += len(chunk)
                else:
                    self._down += len(chunk)
                writer.write(chunk)
                await writer.drain()
            # Pass the half-close on (HTTP clients and servers may rely on it).
            if writer.can_write_eof():
                writer.write_eof()
