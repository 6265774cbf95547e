"""A shaping proxy in front of a real server (or a raw TCP echo), closed after the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from yarl import URL

from client.netem.conditions import parse_spec
from client.netem.proxy import LinkReport, NetemProxy

ProxyFactory = Callable[..., Awaitable[NetemProxy]]


@pytest.fixture
async def shaped() -> AsyncIterator[ProxyFactory]:
    """`await shaped(target_url, "delay=50ms", **proxy_options)`: a started proxy."""
    proxies: list[NetemProxy] = []

    async def start(target: URL | str, spec: str = "none", **options: Any) -> NetemProxy:
        proxy = NetemProxy(URL(str(target)), parse_spec(spec), seed=1, **options)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        await proxy.close()


@pytest.fixture
async def echo_url() -> AsyncIterator[URL]:
    """A raw TCP server that sends back what it receives, as `http://127.0.0.1:<port>`."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        yield URL.build(scheme="http", host="127.0.0.1", port=server.sockets[0].getsockname()[1])


class Reports:
    """Collects `LinkReport`s and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.done: list[LinkReport] = []
        self._changed = asyncio.Event()

    def __call__(self, report: LinkReport) -> None:
        self.done.append(report)
        self._changed.set()

    async def wait_for(self, count: int, limit_s: float = 15.0) -> list[LinkReport]:
        """Once `count` connections have ended; fails after `limit_s`."""
        async with asyncio.timeout(limit_s):
            while len(self.done) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.done
