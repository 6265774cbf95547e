"""Fixtures for the client's tests: a live server in-process, and the CLI run in-process."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from client.__main__ import amain
from server.settings import Settings
from tests.processes import Lines, start_client

# Quick SSE reconnection (the default retry is 2 s) and no room rate limit, so tests are
# fast; options the server does not have (yet) are left out.
FAST_SETTINGS = {"sse_retry": 100, "room_rate": 0}


@pytest.fixture(autouse=True)
def argv_of_python_m_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs name themselves `python -m client`, whatever started pytest.

    The client takes its name from `sys.argv[0]`, which is `pytest` under `.venv/bin/pytest`
    and `__main__.py` under `python -m pytest`; the tests expect the module's name.
    """
    monkeypatch.setattr(sys, "argv", ["__main__.py"])


def known_settings(**overrides: Any) -> dict[str, Any]:
    """`overrides` without the names `server.Settings` does not define."""
    names = {spec.name for spec in dataclasses.fields(Settings)}
    return {name: value for name, value in overrides.items() if name in names}


@pytest.fixture
async def lab(start_server: Callable[..., Awaitable[TestServer]]) -> TestServer:
    """The real app on a free port, with `FAST_SETTINGS`."""
    return await start_server(**known_settings(**FAST_SETTINGS))


@pytest.fixture
def url(lab: TestServer) -> str:
    """`http://127.0.0.1:<port>` of the `lab` server."""
    return str(lab.make_url("")).rstrip("/")


@pytest.fixture
async def rooms(url: str) -> None:
    """Skip the test when the server has no rooms (GET /api/rooms is 404)."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/rooms") as response:
        if response.status == 404:
            pytest.skip("the server has no rooms yet (GET /api/rooms: 404)")


@dataclass(frozen=True)
class CliRun:
    """Exit status and captured output of one in-process run of the client."""

    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        """stdout parsed as one JSON object per line (fails the test if any line is not)."""
        return [json.loads(line) for line in self.out.splitlines()]

    def records(self, kind: str) -> list[dict[str, Any]]:
        """The JSON records of one `type`."""
        return [line for line in self.json_lines() if line.get("type") == kind]


CliRunner = Callable[..., Awaitable[CliRun]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """``await cli("ws", "hello", "--url", url)``: `client.__main__.amain` in this loop."""

    async def run(*argv: str) -> CliRun:
        code = await amain(list(argv))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


ClientSpawner = Callable[..., Awaitable[tuple[asyncio.subprocess.Process, Lines]]]


@pytest.fixture
async def spawn() -> AsyncIterator[ClientSpawner]:
    """``await spawn("sse", ...)``: `start_client`, and any process still running after the
    test (because it failed half-way) is killed."""
    started: list[asyncio.subprocess.Process] = []

    async def spawn_client(
        *argv: str, stdin: bool = False
    ) -> tuple[asyncio.subprocess.Process, Lines]:
        process, lines = await start_client(*argv, stdin=stdin)
        started.append(process)
        return process, lines

    yield spawn_client
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()
