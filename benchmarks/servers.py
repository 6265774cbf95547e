"""The servers a run compares, and how to start and stop one.

Every server is a plain child process of this one (not a shell, not `make`), so its PID is
the process whose CPU and memory are read. The project runs as `make run` runs it:
`python -m server` with default settings; only the limits a run would otherwise measure
instead of the server (connection caps, the room rate for fan-out) are raised, and each
scenario says which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks import procfs

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 2.0
# Raised for every run of the project: 1000+ connections from one address are the load.
PROJECT_LIMITS = ("--max-connections", "0", "--max-connections-per-ip", "0")


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One contender: its label in the report, its command, what it serves."""

    key: str
    label: str
    module: str
    args: tuple[str, ...] = ()
    protocols: frozenset[str] = frozenset({"ws", "sse", "http"})
    needs: str = ""  # a module that must be importable (an extra), else the server is skipped
    option: str = ""  # a setting the project must have (an option added later), else skipped
    idle_memory: bool = True  # also measured in the idle-memory scenario
    root: Path = ROOT  # the checkout it is started from (`python -m benchmarks.compare`)

    def available(self) -> bool:
        if self.needs and importlib.util.find_spec(self.needs) is None:
            return False
        return not self.option or self.option in _project_settings()


PROJECT = ServerSpec("project", "project (make run)", "server", PROJECT_LIMITS)
# The same-loop comparison with bare aiohttp, when the project lets us choose its loop.
PROJECT_ASYNCIO = ServerSpec(
    "project-asyncio",
    "project --loop asyncio",
    "server",
    (*PROJECT_LIMITS, "--loop", "asyncio"),
    option="loop",
)
BARE = ServerSpec("aiohttp", "bare aiohttp", "benchmarks.reference.aiohttp_app")
BARE_UVLOOP = ServerSpec(
    "aiohttp-uvloop",
    "aiohttp + uvloop",
    "benchmarks.reference.aiohttp_app",
    ("--loop", "uvloop"),
    needs="uvloop",
)
STARLETTE = ServerSpec(
    "starlette",
    "starlette + uvicorn",
    "benchmarks.reference.starlette_app",
    needs="sse_starlette",
)
WEBSOCKETS = ServerSpec(
    "websockets",
    "websockets",
    "benchmarks.reference.websockets_app",
    protocols=frozenset({"ws"}),
    needs="websockets",
)
ALL = (PROJECT, PROJECT_ASYNCIO, BARE, BARE_UVLOOP, STARLETTE, WEBSOCKETS)


def _project_settings() -> set[str]:
    """The names of the project's settings (each one is a command-line option)."""
    from server.settings import Settings

    return {spec.name for spec in dataclasses.fields(Settings)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Running:
    """A started server: its PID, URL and log file."""

    spec: ServerSpec
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the port accepts connections; polled, since a child cannot notify us sooner."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)  # polling a child process's port
    raise RuntimeError(f"server did not listen within {START_TIMEOUT_S:g} s; see {log}")


@contextlib.contextmanager
def started(
    spec: ServerSpec, logs: Path, *extra: str, cpus: frozenset[int] | None = None
) -> Iterator[Running]:
    """Start `spec` on a free loopback port (with `extra` options), on `cpus` when given;
    stop it afterwards."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{spec.key}-{port}.log"
    tls = "--tls" in extra
    command = [sys.executable, "-m", spec.module, "--port", str(port), *spec.args, *extra]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=spec.root, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        if cpus:
            # Right after the start, before the interpreter has started any thread.
            procfs.pin(process.pid, cpus)
        _wait_listening(process, port, log)
        scheme = "https" if tls else "http"
        yield Running(spec, process, f"{scheme}://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            # Not measured, and some take long: bare aiohttp waits for handlers still
            # sleeping on streams whose clients left (it notices only at the next write).
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
