"""Lines typed on stdin, delivered to the event loop without blocking it.

A daemon thread reads file descriptor 0 with `os.read` and hands lines to the loop. `os.read`
holds no Python-level lock, so a thread still blocked in it cannot deadlock interpreter
shutdown the way a blocked `sys.stdin.readline()` can; and it works for terminals, pipes and
redirected files alike, which `loop.connect_read_pipe` does not.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import threading

__all__ = ["StdinLines"]

_CHUNK = 64 * 1024


class StdinLines:
    """Async iterator over the lines of stdin (without line ends); ends at end of input."""

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._read, name="stdin-reader", daemon=True)
        self._thread.start()

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        line = await self._queue.get()
        if line is None:
            self._queue.put_nowait(None)  # stay at the end for any later reader
            raise StopAsyncIteration
        return line

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        while True:
            try:
                chunk = os.read(self._fd, _CHUNK)
            except OSError:
                chunk = b""
            pending += decoder.decode(chunk, final=not chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                self._deliver(line.removesuffix("\r"))
            if not chunk:
                if pending:
                    self._deliver(pending)
                self._deliver(None)
                return

    def _deliver(self, line: str | None) -> None:
        # RuntimeError: the loop is closed because the program is exiting.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
