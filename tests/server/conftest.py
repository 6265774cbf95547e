"""The server as `python -m server` runs it (the real runner: head deadline, TLS), in-process.

`start_server` (tests/conftest.py) serves the app through aiohttp's TestServer, which has
its own listening site; tests of what the runner adds use `start_live_server` instead.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from server.runner import Running, start
from server.settings import Settings


@dataclass
class LiveServer:
    """A running server, with the bits of `TestServer`'s interface the tests use."""

    running: Running
    settings: Settings

    @property
    def app(self) -> web.Application:
        return self.running.runner.app

    @property
    def url(self) -> URL:
        return URL(self.running.url)

    @property
    def host(self) -> str:
        return self.url.host or "127.0.0.1"

    @property
    def port(self) -> int:
        return self.url.port or 0

    def make_url(self, path: str) -> URL:
        return URL(self.running.url + path)


LiveServerFactory = Callable[..., Awaitable[LiveServer]]


@pytest.fixture
async def start_live_server() -> AsyncIterator[LiveServerFactory]:
    """Start the real runner on 127.0.0.1 and a free port; keyword arguments override
    Settings. Every server started is stopped after the test."""
    started: list[LiveServer] = []

    async def start_one(**overrides: Any) -> LiveServer:
        settings = Settings(port=0, **overrides)
        server = LiveServer(await start(settings), settings)
        started.append(server)
        return server

    yield start_one
    for server in started:
        await server.running.runner.cleanup()
