"""The shared server-process helper: both faces start, restart and fail the same way."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.processes import ServerProcess, SyncServerProcess


def test_sync_server_restarts_on_its_port_and_stops(tmp_path: Path) -> None:
    server = SyncServerProcess(tmp_path / "server.log")
    url = server.start()
    try:
        port = server.port
        server.stop()
        assert server.start() == url  # the same port again, as a restart test needs
        assert server.port == port
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert response.read() == b"ok"
    finally:
        server.stop()
    assert server.process is None


def test_sync_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    server = SyncServerProcess(tmp_path / "server.log", ["--no-such-option"])
    with pytest.raises(AssertionError, match="no-such-option"):
        server.start()
    assert server.process is None  # nothing left behind


async def test_async_server_reads_its_port_from_the_banner() -> None:
    server = ServerProcess(0)
    await server.start()
    try:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()
    assert server.process is not None
    assert server.process.returncode is not None
