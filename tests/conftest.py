"""Fixtures shared by the whole suite: a real server on a free loopback port."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.settings import Settings

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def start_server(aiohttp_server: Any) -> ServerFactory:
    """Start the real app on 127.0.0.1 and a free port; keyword arguments override Settings."""

    async def start(**overrides: Any) -> TestServer:
        settings = Settings(port=0, **overrides)
        server: TestServer = await aiohttp_server(
            create_app(settings), shutdown_timeout=settings.shutdown_timeout
        )
        return server

    return start


@pytest.fixture
async def server(start_server: ServerFactory) -> TestServer:
    """The app with default settings."""
    return await start_server()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session, closed after the test. No pool limit: long-lived streams
    would otherwise queue behind aiohttp's default of 100 connections."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        yield client
