"""Server and client subprocesses, for what only separate processes can show: a server
stopped with a signal or killed and restarted on the same port, Ctrl-C, and typing on stdin."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

LINE_LIMIT_S = 15.0


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
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.options,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(LINE_LIMIT_S):
                banner = await self.process.stdout.readline()
            bound = re.search(rb"serving on https?://[^\s]+:(\d+)", banner)
            assert bound, banner
            self.port = int(bound.group(1))
        except BaseException:
            await self.stop(signal.SIGKILL)  # never leave a server behind a failed start
            raise

    async def stop(self, signum: int = signal.SIGINT) -> None:
        """Stop it with `signum` (SIGKILL: a crash) and wait until it is gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)
            async with asyncio.timeout(LINE_LIMIT_S):
                await self.process.wait()


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
