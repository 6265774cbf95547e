"""What every scenario shares: the run's profile, the servers, the load generators, results.

A scenario is a module in `benchmarks/scenarios/` with a `TITLE` and a
`run(ctx: Context) -> Section`; it starts what it needs through the context and returns its
tables, its targets and its raw numbers. Nothing here knows which scenarios exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import procfs
from benchmarks.servers import ROOT, Running, ServerSpec, started

TIMES = "\N{MULTIPLICATION SIGN}"  # how ratios are written: 1.05 times
WRK_GRACE_S = 120.0  # how long past its duration a wrk run may take before it is killed


@dataclass(frozen=True, slots=True)
class Profile:
    """How big and how long: the full run (`make bench`) or the smoke test's tiny one."""

    name: str = "full"
    rounds: int = 3  # every server
    # The project and bare aiohttp (the CPU targets' pair) go on for more rounds than the
    # peers: the spread of their per-round ratios is what a verdict is judged against.
    paired_rounds: int = 6
    warmup_s: float = 1.0
    duration_s: float = 3.0
    conns: int = 50  # WS echo, SSE and wrk connections
    # Flat out: every connection keeps messages in flight and each server goes as fast as
    # it can (the load the issue measured with); each wake-up serves many messages, so the
    # per-message code weighs most. Paced (`--paced`): a fixed offered rate, the same for
    # every server, well below what any can serve, so each wake-up serves one message.
    # The target pair is measured at the other load too, and must meet its target at both.
    # Pinned and side by side, the flat-out ratios repeated within a few percent from run
    # to run on the loaded machine; the paced ones moved more for HTTP and SSE.
    paced: bool = False
    other_load_rounds: int = 6  # the pair, side by side, at the other load
    # The project and bare aiohttp (the CPU targets' pair) measured at the same time, each
    # with its own load generator, rather than one after the other.
    together: bool = True
    # Low enough that the pair measured side by side keeps up on one busy core (at twice
    # these rates, three servers side by side fell to a third of the rate when the machine
    # was loaded, and then no longer did the same work).
    ws_rate: int = 5_000  # WS echo messages/s, all connections together
    sse_interval_ms: int = 20  # per stream: 50 streams → 2,500 events/s
    http_delay_ms: int = 100  # wrk's pause per connection: 50 connections → ≤ 500 req/s
    ws_inflight: int = 16  # flat out: messages in flight per connection; paced: at most
    ws_size: int = 32
    sse_size: int = 64
    http_size: int = 32
    idle: int = 1000  # idle WebSockets, and idle SSE streams, per server
    # One fresh process per server: repeated runs agreed within 0.1 KiB per connection, and
    # each costs a minute of a 10-minute budget on a busy machine.
    memory_rounds: int = 1
    fanout_subscribers: int = 1000  # half WebSocket, half SSE
    fanout_messages: int = 100
    hold: int = 10_000  # half WebSocket, half SSE
    servers: tuple[str, ...] = (
        *("project", "project-asyncio", "aiohttp", "aiohttp-uvloop", "starlette", "websockets"),
    )


FULL = Profile()
SMOKE = Profile(
    name="smoke",
    rounds=1,
    paired_rounds=2,
    other_load_rounds=1,
    warmup_s=0.2,
    duration_s=0.5,
    conns=4,
    ws_inflight=4,
    idle=20,
    fanout_subscribers=20,
    fanout_messages=5,
    hold=100,
    # aiohttp + uvloop too: the uvloop target's pair is measured like the 1.05 one.
    servers=("project", "aiohttp", "aiohttp-uvloop"),
)


@dataclass
class Table:
    """A markdown table: header row, then rows of cells already formatted."""

    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Target:
    """One line of the issue's target table: what was asked, what was measured, met or not.

    `met` is None when the run could not measure it (a server missing, a smoke run) or when
    the measurement's spread does not allow a verdict (`within_noise`)."""

    name: str
    measured: str
    met: bool | None
    within_noise: bool = False  # the spread straddles the target: neither met nor missed


@dataclass
class ChartPanel:
    """Grouped bars: one group per category, one bar per series (None: not measured)."""

    title: str
    unit: str
    categories: list[str]
    series: dict[str, list[float | None]]


@dataclass
class Section:
    """What a scenario returns."""

    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    chart: ChartPanel | None = None
    data: dict[str, Any] = field(default_factory=dict)


def median(values: list[float]) -> float | None:
    """The median of the values that were measured (None when none were)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    """A number for a table; an em dash for one not measured."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}{TIMES}"


class Context:
    """The run in progress: profile, selected servers, scratch folder, progress lines."""

    def __init__(
        self, profile: Profile, scratch: Path, pinning: procfs.Pinning | None = None
    ) -> None:
        self.profile = profile
        self.scratch = scratch
        self.pinning = pinning  # servers on one CPU, load on the other (None: not pinned)
        self.logs = scratch / "logs"
        self.started_at = time.monotonic()
        self.servers: list[ServerSpec] = []
        self._long_lived: dict[str, Running] = {}
        self._stack = contextlib.ExitStack()

    def progress(self, message: str) -> None:
        """One line on stderr: elapsed time, then what is happening."""
        elapsed = int(time.monotonic() - self.started_at)
        print(f"[{elapsed // 60:2d}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)

    def serving(self, protocol: str) -> list[ServerSpec]:
        """The selected servers that serve `protocol` (ws, sse or http)."""
        return [spec for spec in self.servers if protocol in spec.protocols]

    def server(self, spec: ServerSpec) -> Running:
        """A server kept running for the whole run (started on first use)."""
        if spec.key not in self._long_lived:
            self.progress(f"starting {spec.label}")
            self._long_lived[spec.key] = self._stack.enter_context(
                started(spec, self.logs, cpus=self._server_cpus())
            )
        return self._long_lived[spec.key]

    def fresh(self, spec: ServerSpec, *extra: str) -> contextlib.AbstractContextManager[Running]:
        """A server started for one measurement (memory needs a process with no history)."""
        return started(spec, self.logs, *extra, cpus=self._server_cpus())

    @contextlib.contextmanager
    def afresh(self, specs: list[ServerSpec]) -> Iterator[None]:
        """Within the block, `specs` are served by processes started for it (stopped after
        it), not by the ones kept for the run: what one process happens to get (memory
        layout, hash seeds) then varies from block to block instead of weighing on all."""
        kept = {spec.key: self._long_lived.pop(spec.key, None) for spec in specs}
        try:
            with contextlib.ExitStack() as stack:
                for spec in specs:
                    self._long_lived[spec.key] = stack.enter_context(
                        started(spec, self.logs, cpus=self._server_cpus())
                    )
                yield
        finally:
            for key, running in kept.items():
                self._long_lived.pop(key, None)
                if running is not None:
                    self._long_lived[key] = running

    def _server_cpus(self) -> frozenset[int] | None:
        return self.pinning.server if self.pinning else None

    def close(self) -> None:
        self._stack.close()

    def loadgen(self, mode: str, running: Running, *options: str) -> dict[str, Any]:
        """Run the raw-socket load generator in its own process; its JSON result."""
        command = [
            *(sys.executable, "-m", "benchmarks.loadgen", mode),
            *("--url", running.url, "--server-pid", str(running.pid), *options),
        ]
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
        )
        return _result_line(done.stdout, done.stderr)

    @contextlib.contextmanager
    def holding(self, running: Running, ws: int, sse: int) -> Iterator[dict[str, Any]]:
        """Idle connections held by a load generator process while the block runs.

        Yields what it reports once they are open ("held"); afterwards the dict also has
        "released" with what it saw when closing them.
        """
        command = [
            *(sys.executable, "-m", "benchmarks.loadgen", "idle", "--url", running.url),
            *("--ws", str(ws), "--sse", str(sse)),
        ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"idle load generator failed: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            report: dict[str, Any] = json.loads(line)["held"]
            yield report
            process.stdin.write("release\n")
            process.stdin.flush()
            out, err = process.communicate(timeout=120)
            report["released"] = _result_line(out, err)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    def wrk(self, running: Running, duration_s: float, delay_ms: int = 0) -> dict[str, Any]:
        """`wrk` POSTing to /http/echo over `conns` keep-alive connections, one thread; with
        `delay_ms`, each connection waits that long before each request (a paced load of at
        most conns * 1000 / delay_ms requests a second)."""
        script = self.scratch / f"post-{delay_ms}.lua"
        if not script.exists():
            body = "x" * self.profile.http_size
            pace = f"function delay()\n  return {delay_ms}\nend\n" if delay_ms else ""
            script.write_text(
                f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                'wrk.headers["Content-Type"] = "text/plain"\n' + pace
            )
        conns = self.profile.conns
        command = [
            *("wrk", "-t1", f"-c{conns}", f"-d{max(1, round(duration_s))}s", "--latency"),
            *("-s", str(script), f"{running.url}/http/echo"),
        ]
        cpu0, t0 = procfs.cpu_ns(running.pid), time.perf_counter()
        stat0 = procfs.stat_cpu_s(running.pid)
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # wait4 gives this wrk's own CPU time, even when another wrk runs beside it (wrk
        # prints a few lines, far less than a pipe holds, so it cannot block on them). A wrk
        # that outlives its duration by far is stopped, as subprocess.run's timeout did.
        watchdog = threading.Timer(duration_s + WRK_GRACE_S, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - t0
        server_cpu = (procfs.cpu_ns(running.pid) - cpu0) / 1e9
        stat_cpu = procfs.stat_cpu_s(running.pid) - stat0
        process.returncode = os.waitstatus_to_exitcode(status)
        out, err = process.communicate()
        client_cpu = usage.ru_utime + usage.ru_stime
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed: {err or out}")
        return {
            **parse_wrk(out),
            "wall_s": round(wall, 4),
            "server_cpu_s": round(server_cpu, 6),
            "server_stat_cpu_s": round(stat_cpu, 3),
            "client_cpu_s": round(client_cpu, 6),
        }


def _result_line(stdout: str, stderr: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"result"'):
            result: dict[str, Any] = json.loads(line)["result"]
            return result
    raise RuntimeError(f"load generator failed: {stderr[-2000:]}")


_WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, p50/p99 latency (ms) and errors from `wrk --latency` output."""
    requests = _WRK_REQUESTS.search(output)
    latency = {
        f"p{m.group(1)}": float(m.group(2)) * _UNIT_MS[m.group(3)]
        for m in _WRK_LATENCY.finditer(output)
    }
    errors = [m.group(0) for m in _WRK_ERRORS.finditer(output)]
    return {
        "operations": int(requests.group(1)) if requests else 0,
        "latency_ms": {"p50": latency.get("p50"), "p99": latency.get("p99")},
        "errors": errors,
    }


def get_json(url: str) -> Any:
    """GET a JSON document from a server this run started (loopback)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def settled_rss(pid: int) -> int:
    """RSS of `pid` (KiB) once it stops moving after a burst of allocations."""
    previous = procfs.rss_kib(pid)
    for _ in range(20):
        time.sleep(0.25)  # sampling a process that cannot notify us
        now = procfs.rss_kib(pid)
        if abs(now - previous) < 64:
            return now
        previous = now
    return previous


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="protocol-lab-bench-"))


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import aiohttp

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "aiohttp": aiohttp.__version__,
        "kernel": os.uname().release,
    }
