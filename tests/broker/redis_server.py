"""A private `redis-server` for one test: a free loopback port, no persistence, stopped after.

It can be stopped and started again on the same port, as a real outage would look to the
server processes using it (with `--save ''` it comes back empty, like a cache restarted).
"""

from __future__ import annotations

import asyncio
import shutil
import signal

from tests.processes import free_port

READY_LIMIT_S = 15.0
REDIS_SERVER = shutil.which("redis-server")
NOT_INSTALLED = (
    "redis-server is not installed and could not be: `make test` installs Debian's "
    "redis-server (scripts/system-deps.sh, as root)"
)


class RedisServer:
    """`redis-server` on 127.0.0.1:`port`; `url` is what `--broker` takes."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it and wait until it accepts connections."""
        assert REDIS_SERVER is not None, NOT_INSTALLED
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            "",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        seen: list[bytes] = []
        try:
            async with asyncio.timeout(READY_LIMIT_S):
                while b"Ready to accept connections" not in (
                    line := await self.process.stdout.readline()
                ):
                    seen.append(line)
                    assert line, f"redis-server exited: {b''.join(seen[-5:])!r}"
        except BaseException:
            await self.stop(signal.SIGKILL)
            raise
        # Its log must not fill the pipe and block it: read the rest away.
        self._drain = asyncio.create_task(self.process.stdout.read())

    async def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop it (SIGKILL: a crash) and wait until it is gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)
            async with asyncio.timeout(READY_LIMIT_S):
                await self.process.wait()
        if self._drain is not None:
            await self._drain
            self._drain = None

    async def restart(self) -> None:
        """A crash and a restart on the same port: the data is gone, clients must notice."""
        await self.stop(signal.SIGKILL)
        await self.start()
