"""`python -m server --workers N`: N server processes sharing one port.

Each worker is a whole server (its own event loop, app and connections) listening on the same
address with SO_REUSEPORT, so the kernel spreads new connections over them; no process
forwards traffic to another. A connection stays with the worker that accepted it, so a
WebSocket or SSE stream lives in one process, and every request of a long-poll loop may land
on a different one: that is fine, because the cursor travels in the URL (`since=`) and rooms
live in the shared broker. Nothing needs sticky sessions (Engine.IO-style sessions would:
their state is in one process).

Without `--broker`, each worker has rooms of its own: two users in "the same" room may not
see each other (split brain). The parent warns loudly; lab 10 shows it on purpose.

The parent only starts, watches and stops workers. If one dies, the others are stopped and
the parent exits with status 1: a half-working server is worse than a clear failure.
"""

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from server.core.process import ProcessInfo
from server.runner import Running, loop_factory, serve
from server.settings import Settings
from server.tls import tls_setup

READY_LIMIT_S = 60.0  # every worker must listen within this; on a loaded 2-core box too
STOP_GRACE_S = 5.0  # beyond --shutdown-timeout, before a worker that hangs is killed


def split_brain_warning(workers: int) -> str:
    """What the parent prints when N > 1 workers keep rooms in memory."""
    return (
        f"WARNING: {workers} workers without --broker: each process keeps its OWN rooms in "
        "memory, so clients of the same room on different processes do not see each other "
        "(split brain). Use --broker redis://127.0.0.1:6379/0 to share rooms."
    )


def run_workers(settings: Settings, announce: Callable[[str], None]) -> int:
    """Start `settings.workers` processes on one port, announce the URL, wait, stop them.

    Returns the exit status: 0 after SIGINT/SIGTERM, 1 if a worker failed.
    """
    count = settings.workers
    if not settings.broker:
        print(split_brain_warning(count), file=sys.stderr, flush=True)
    tls_setup(settings)  # a generated certificate is made once, here, not N times at once
    holder, settings = _reserve_port(settings)
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe(duplex=False) for _ in range(count)]
    workers = [
        context.Process(
            target=_worker_main, args=(settings, index, count, writer), name=f"worker-{index}"
        )
        for index, (_, writer) in enumerate(pipes, start=1)
    ]
    stop = _StopSignal()
    try:
        for worker in workers:
            worker.start()
        started = _wait_ready([reader for reader, _ in pipes], workers)
        if started is None:
            return 1
        url, pids = started
        announce(f"Protocol Lab is serving on {url}  ({count} worker processes, pids {pids})")
        holder.close()
        return _watch(workers, stop)
    finally:
        holder.close()
        _stop_all(workers, settings.shutdown_timeout + STOP_GRACE_S)
        stop.restore()


def _reserve_port(settings: Settings) -> tuple[socket.socket, Settings]:
    """With `--port 0`, pick the port once for all workers; hold it until they listen."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((settings.host, settings.port))
    except OSError:
        holder.close()
        raise
    port = holder.getsockname()[1]
    return holder, dataclasses.replace(settings, port=port)


def _worker_main(settings: Settings, index: int, count: int, ready: Connection) -> None:
    """One worker: a whole server on the shared port."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s worker-{index} %(name)s: %(message)s",
    )
    process = ProcessInfo(index, count)

    def on_ready(running: Running) -> None:
        ready.send((running.url, process.pid))

    # Ctrl-C reaches the whole process group; serve() stops on it by itself.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory(settings.loop)) as runner,
    ):
        runner.run(serve(settings, on_ready, process))


def _wait_ready(
    readers: list[Connection], workers: Sequence[BaseProcess]
) -> tuple[str, list[int]] | None:
    """Wait until every worker listens; None (and a message) if one exits first."""
    url, pids = "", []
    pending = list(readers)
    sentinels = [worker.sentinel for worker in workers]
    while pending:
        waiting = multiprocessing.connection.wait([*pending, *sentinels], READY_LIMIT_S)
        if not waiting or any(worker.exitcode is not None for worker in workers):
            print("python -m server: error: a worker did not start", file=sys.stderr)
            return None
        for reader in pending[:]:
            if reader in waiting:
                url, pid = reader.recv()
                pids.append(pid)
                pending.remove(reader)
    return url, sorted(pids)


def _watch(workers: Sequence[BaseProcess], stop: "_StopSignal") -> int:
    """Until a stop signal (status 0) or a worker's death (status 1)."""
    sentinels = [worker.sentinel for worker in workers]
    while not stop.requested:
        multiprocessing.connection.wait([*sentinels, stop.reader], None)
        dead = [worker for worker in workers if worker.exitcode is not None]
        if dead and not stop.requested:
            print(
                f"python -m server: error: {dead[0].name} exited with {dead[0].exitcode}; "
                "stopping the other workers",
                file=sys.stderr,
            )
            return 1
    return 0


def _stop_all(workers: Sequence[BaseProcess], limit_s: float) -> None:
    """SIGTERM every live worker, wait up to `limit_s`, then kill what is left."""
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            worker.terminate()
    for worker in workers:
        worker.join(limit_s)
        if worker.is_alive():
            worker.kill()
            worker.join()


class _StopSignal:
    """SIGINT and SIGTERM in the parent, turned into a readable pipe for `wait`."""

    def __init__(self) -> None:
        self.requested = False
        self.reader, self._writer = multiprocessing.Pipe(duplex=False)
        self._previous = {
            signum: signal.signal(signum, self._handle)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }

    def _handle(self, _signum: int, _frame: object) -> None:
        self.requested = True
        self._writer.send(b"stop")

    def restore(self) -> None:
        """Put the previous handlers back."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
