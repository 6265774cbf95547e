"""The counting relay: exact byte counts both ways, and a cut that really cuts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from client.relay import ByteCounts, CountingRelay
from tests.processes import free_port


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A TCP server that sends back twice what it receives (so down != up)."""

    async def double(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data * 2)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(double, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_counts_bytes_each_way(echo_port: int) -> None:
    async with CountingRelay("127.0.0.1", echo_port) as relay:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.url.port)
        writer.write(b"x" * 100)
        assert await asyncio.wait_for(reader.readexactly(200), 5) == b"x" * 200
        # Counted as read: by the time the reply is here, every byte of it was counted.
        assert relay.counts() == ByteCounts(up=100, down=200, connections=1)
        writer.close()
        await writer.wait_closed()
        assert relay.counts() - ByteCounts(up=40) == ByteCounts(60, 200, 1)


async def test_cut_resets_connections_and_refuses_until_restored(echo_port: int) -> None:
    async with CountingRelay("127.0.0.1", echo_port) as relay:
        port = relay.url.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        await asyncio.wait_for(reader.readexactly(8), 5)

        await relay.cut()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the connection is gone
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)

        await relay.restore()
        assert relay.url.port == port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"back")
        assert await asyncio.wait_for(reader.readexactly(8), 5) == b"backback"
        writer.close()
        await writer.wait_closed()


async def test_unreachable_target_closes_the_client_side() -> None:
    async with CountingRelay("127.0.0.1", free_port()) as relay:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.url.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert relay.counts().connections == 0
