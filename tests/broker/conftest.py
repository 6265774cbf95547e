"""Fixtures for the Redis broker tests: a private redis-server per test."""

from collections.abc import AsyncIterator

import pytest

from tests.broker.redis_server import NOT_INSTALLED, REDIS_SERVER, RedisServer


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    """A fresh redis-server on a free loopback port, stopped after the test."""
    if REDIS_SERVER is None:
        pytest.skip(NOT_INSTALLED)
    server = RedisServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
