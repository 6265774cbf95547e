"""Server and client subprocesses, for what only separate processes can show: a server
stopped with a signal or killed and restarted on the same port, Ctrl-C, and typing on stdin.

Every test that runs `python -m server` as a process starts it here: `ServerProcess` for async
tests, `SyncServerProcess` for synchronous code (Playwright's sync API, the docs blocks). Both
run the same command and read the port from the same banner line.
"""

from __future__ import annotations

import asyncio
import json
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LINE_LIMIT_S = 15.0
ROOT = Path(__file__).resolve().parents[1]
# The first line the server prints, whatever else it says: "... serving on http://host:port".
BANNER = re.compile(r"serving on (https?://\S+:(\d+))")


def server_command(port: int, options: tuple[str, ...] | list[str]) -> list[str]:
    """`python -m server` as a user starts it, on `port` (0: any free one)."""
    return [sys.executable, "-m", "server", "--port", str(port), *options]


def bound_url(banner: str) -> str | None:
    """The URL a server's banner line says it serves on, or None for another line."""
    found = BANNER.search(banner)
    return found.group(1) if found else None


def free_port() -> int:
    """A port that was free a moment ago (the server binds it again with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Lines:
    """Reads a process's output line by line, with a deadline for each wait."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream
        self.seen: list[str] = []

    async def until(self, matches: Callable[[str], bool], limit_s: float = LINE_LIMIT_S) -> str:
        """The next line for which `matches` is true; fails after `limit_s` seconds or EOF."""
        async with asyncio.timeout(limit_s):
            while True:
                raw = await self._stream.readline()
                if not raw:
                    raise AssertionError(f"output ended; last lines: {self.seen[-10:]}")
                line = raw.decode().rstrip("\n")
                self.seen.append(line)
                if matches(line):
                    return line

    async def until_json(
        self, matches: Callable[[dict[str, Any]], bool], limit_s: float = LINE_LIMIT_S
    ) -> dict[str, Any]:
        """The next JSON line for which `matches` is true."""
        line = await self.until(lambda text: _json_matches(text, matches), limit_s)
        return dict(json.loads(line))

    async def rest(self, limit_s: float = LINE_LIMIT_S) -> list[str]:
        """Every remaining line, until the stream ends."""
        async with asyncio.timeout(limit_s):
            data = await self._stream.read()
        lines = data.decode().splitlines()
        self.seen.extend(lines)
        return lines


def _json_matches(text: str, matches: Callable[[dict[str, Any]], bool]) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and matches(value)


class ServerProcess:
    """`python -m server` in a subprocess. With a fixed port it can be killed and started
    again there; with port 0 it picks a free one, which `port` holds once started."""

    def __init__(self, port: int = 0, *options: str) -> None:
        self.port = port
        self.options = options
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start it and wait for its banner (which names the port it bound)."""
        command = server_command(self.port, ("--log-level", "warning", *self.options))
        self.process = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(LINE_LIMIT_S):
                banner = (await self.process.stdout.readline()).decode()
            url = bound_url(banner)
            assert url, banner
            self.port = int(url.rsplit(":", 1)[1])
        except BaseException:
            await self.stop(signal.SIGKILL)  # never leave a server behind a failed start
            raise

    async def stop(self, signum: int = signal.SIGINT) -> None:
        """Stop it with `signum` (SIGKILL: a crash) and wait until it is gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)
            async with asyncio.timeout(LINE_LIMIT_S):
                await self.process.wait()


@dataclass
class SyncServerProcess:
    """`python -m server` for synchronous code, its log (stderr) appended to `log_path`.

    `args` are the server's options; with `port` 0 it picks a free port, which `port` and `url`
    hold once started, so `stop()` then `start()` restarts it on the same port.
    """

    log_path: Path
    args: list[str] = field(default_factory=list)
    port: int = 0
    url: str = ""
    process: subprocess.Popen[str] | None = None

    def start(self, limit_s: float = LINE_LIMIT_S) -> str:
        """Start it and wait (at most `limit_s`) for its banner; returns its base URL."""
        with self.log_path.open("a") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                server_command(self.port, self.args),
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        url = self._wait_for_banner(limit_s)
        if url is None:
            self.stop(signal.SIGKILL)  # never leave a server behind a failed start
            raise AssertionError(f"the server did not start; its log:\n{self.log_text()}")
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        return url

    def _wait_for_banner(self, limit_s: float) -> str | None:
        assert self.process is not None
        assert self.process.stdout is not None
        deadline = time.monotonic() + limit_s
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(remaining):
                    return None
                line = self.process.stdout.readline()
                if not line:  # the process exited
                    return None
                if url := bound_url(line):
                    return url
        return None

    def stop(self, signum: int = signal.SIGINT, limit_s: float = LINE_LIMIT_S) -> None:
        """Stop it with `signum` (SIGINT: Ctrl-C, a graceful shutdown); kill it if it does
        not exit within `limit_s`."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(limit_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def log_text(self, limit_chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-limit_chars:]


async def start_client(
    *argv: str, stdin: bool = False
) -> tuple[asyncio.subprocess.Process, Lines]:
    """`python -m client ARGV...` with stdout readable line by line (stderr to stdout)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "client",
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    return process, Lines(process.stdout)


async def finish(process: asyncio.subprocess.Process, limit_s: float = LINE_LIMIT_S) -> int:
    """Wait for the process to exit; kill it (and fail) if it does not in time."""
    try:
        async with asyncio.timeout(limit_s):
            return await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the process did not exit within {limit_s} s") from None
