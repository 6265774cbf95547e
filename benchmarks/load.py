#!/usr/bin/env python3
"""Hold N WebSocket and N SSE connections against a real server under steady traffic.

    .venv/bin/python benchmarks/load.py                      # 1000 + 1000 for 60 s
    .venv/bin/python benchmarks/load.py --connections 50 --duration 3 --json out.json

What it does, in order:

1. Raises this process's open-file limit (2000 sockets need more than the usual 1024) and
   starts `python -m server --port 0` as a subprocess, with the connection limits and the
   idle/lifetime limits switched off (they would otherwise be what is measured).
2. Reads the server's resident memory (VmRSS in /proc/PID/status) at rest, after opening N
   WebSockets to /ws/echo, and after opening N SSE streams to /sse/stream: the differences
   divided by N are the memory each connection costs the server.
3. For `--duration` s every WebSocket sends a numbered message every `--interval-ms` (phases
   spread evenly) and times its echo; every SSE stream receives a tick every `--interval-ms`
   and compares the tick's server timestamp with the time it arrives.
4. Stops sending, waits for the last echoes, and counts what was lost: echoes that never
   came back, and gaps in each stream's tick numbers. A dropped connection counts as an error.
5. Prints latency percentiles, memory, server CPU and counts; with `--json` writes them too.

Exit status 0 when nothing was lost and no connection failed, 1 otherwise. Loopback only:
the server listens on 127.0.0.1 and nothing else is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import re
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
CONNECT_CONCURRENCY = 100  # connections opened at once: bursts beyond overflow SYN queues
DRAIN_S = 5.0  # how long to wait for the last echoes after sending stops
LAG_PERIOD_S = 0.05


@dataclass
class Tally:
    """What one protocol's connections saw."""

    connections: int = 0
    failed: int = 0  # could not connect, or dropped before the end
    sent: int = 0  # WebSocket: messages sent; SSE: ticks numbered up to the last one seen
    received: int = 0
    lost: int = 0  # WebSocket: echoes that never came; SSE: numbers missing from a stream
    duplicated: int = 0
    behind: int = 0  # SSE streams that delivered fewer ticks than the schedule (too slow)
    latencies_ms: list[float] = field(default_factory=list)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max of `samples` in ms (empty dict when there are none)."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


def raise_open_file_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(max(soft, needed), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB, from /proc (Linux)."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time `pid` has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_server(log: Path) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m server` on a free port without the limits under test; its URL."""
    args = [
        *("--port", "0", "--log-level", "warning"),
        *("--max-connections", "0", "--max-connections-per-ip", "0"),
        *("--ws-idle-timeout", "0", "--sse-max-lifetime", "0"),
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("wb"),
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    match = re.search(rb"http://127\.0\.0\.1:\d+", line)
    if not match:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}; see {log}")
    return process, match.group(0).decode()


class EchoClient:
    """One WebSocket to /ws/echo: numbered messages out, echoes timed as they come back."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pending: dict[int, float] = {}
        self.failed = False
        self.closing = False
        self.done_sending = False
        self.drained = asyncio.Event()  # set once sending is over and every echo is back

    def _check_drained(self) -> None:
        if self.done_sending and not self.pending:
            self.drained.set()

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()

    async def open(self, session: aiohttp.ClientSession, url: str) -> None:
        self.ws = await session.ws_connect(f"{url}/ws/echo", compress=0)

    async def send_steadily(self, phase_s: float, interval_s: float, until: float) -> None:
        assert self.ws is not None
        loop = asyncio.get_running_loop()
        seq = 0
        next_at = loop.time() + phase_s
        while next_at < until and not self.failed:
            await asyncio.sleep(max(0.0, next_at - loop.time()))  # the traffic's own pace
            seq += 1
            self.pending[seq] = time.perf_counter()
            try:
                await self.ws.send_str(json.dumps({"seq": seq}))
            except (aiohttp.ClientError, ConnectionError):
                self.failed = True
                break
            self.tally.sent += 1
            next_at += interval_s
        self.done_sending = True
        self._check_drained()

    async def receive(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            sent_at = self.pending.pop(json.loads(msg.data)["seq"], None)
            if sent_at is not None:
                self.tally.received += 1
                self.tally.latencies_ms.append((time.perf_counter() - sent_at) * 1000)
                self._check_drained()
        if not self.closing:  # the connection ended before we closed it
            self.failed = True


class TickListener:
    """One SSE stream of /sse/stream ticks: checks the numbering and times each tick."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.response: aiohttp.ClientResponse | None = None
        self.seqs: list[int] = []
        self.failed = False
        # Ticks from before the steady phase (while others connect) are counted, not timed.
        self.timed_from_ms = float("inf")

    async def open(self, session: aiohttp.ClientSession, url: str, interval_ms: int) -> None:
        self.response = await session.get(f"{url}/sse/stream?interval={interval_ms}")
        if self.response.status != 200:
            raise aiohttp.ClientResponseError(
                self.response.request_info, (), status=self.response.status
            )

    async def receive(self, until: list[float]) -> None:
        """Read ticks as they come, until the first one after `until[0]` (set later)."""
        assert self.response is not None
        loop = asyncio.get_running_loop()
        try:
            while loop.time() < until[0]:
                block = await self.response.content.readuntil(b"\r\n\r\n")
                if not block:
                    self.failed = True
                    return
                data = next(
                    (line[6:] for line in block.split(b"\r\n") if line.startswith(b"data: ")),
                    None,
                )
                if data is None:  # the retry field, or a keep-alive comment
                    continue
                tick = json.loads(data)
                self.seqs.append(tick["seq"])
                self.tally.received += 1
                if tick["ts"] >= self.timed_from_ms:
                    self.tally.latencies_ms.append(time.time() * 1000 - tick["ts"])
        except (aiohttp.ClientError, ConnectionError, ValueError):
            self.failed = True

    def count_lost(self, minimum: int) -> None:
        """Every tick from 1 to the last one seen must be here once; a stream that delivered
        fewer than `minimum` ticks fell behind its schedule (nothing lost, just late)."""
        last = max(self.seqs, default=0)
        unique = len(set(self.seqs))
        self.tally.sent += last
        self.tally.lost += last - unique
        self.tally.duplicated += len(self.seqs) - unique
        if len(self.seqs) < minimum:
            self.tally.behind += 1


async def watch_loop_lag(samples: list[float], until: list[float]) -> None:
    """How late this process's event loop wakes up (ms): latency the client adds itself."""
    loop = asyncio.get_running_loop()
    while loop.time() < until[0]:
        expected = loop.time() + LAG_PERIOD_S
        await asyncio.sleep(LAG_PERIOD_S)  # the measurement: how late does this wake up?
        samples.append((loop.time() - expected) * 1000)


async def open_all(opens: list[Any], tally: Tally) -> None:
    """Open every connection, CONNECT_CONCURRENCY at a time; count failures."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(opener: Any) -> None:
        async with gate:
            try:
                await opener()
                tally.connections += 1
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                tally.failed += 1
                print(f"  connect failed: {exc!r}", file=sys.stderr)

    await asyncio.gather(*(one(opener) for opener in opens))


async def settle(pid: int) -> int:
    """The server's RSS once it has stopped moving (allocations after a burst settle)."""
    previous = rss_kib(pid)
    for _ in range(20):
        await asyncio.sleep(0.25)  # sampling a process we cannot be notified by
        now = rss_kib(pid)
        if abs(now - previous) < 64:
            return now
        previous = now
    return previous


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.connections
    load_before = os.getloadavg()
    nofile = raise_open_file_limit(2 * n + 256)
    log = Path(tempfile.gettempdir()) / "protocol-lab-load-server.log"
    process, url = await start_server(log)
    pid = process.pid
    ws_tally, sse_tally = Tally(), Tally()
    interval_s = args.interval_ms / 1000
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async with session.get(f"{url}/healthz") as response:  # warm the server up
                await response.read()
            rss_base = await settle(pid)
            echoes = [EchoClient(ws_tally) for _ in range(n)]
            await open_all([lambda c=c: c.open(session, url) for c in echoes], ws_tally)
            rss_ws = await settle(pid)
            echoes = [c for c in echoes if c.ws is not None]
            receivers = [asyncio.create_task(c.receive()) for c in echoes]
            listeners = [TickListener(sse_tally) for _ in range(n)]
            until = [float("inf")]  # known once the steady phase starts

            async def open_and_listen(listener: TickListener) -> None:
                await listener.open(session, url, args.interval_ms)
                receivers.append(asyncio.create_task(listener.receive(until)))

            await open_all([lambda s=s: open_and_listen(s) for s in listeners], sse_tally)
            sse_receivers = receivers[len(echoes) :]
            rss_all = await settle(pid)
            listeners = [s for s in listeners if s.response is not None]

            # The client is not what is measured: keep its collector off the long-lived
            # connection objects, whose full collections would pause it for many ms.
            gc.freeze()
            loop = asyncio.get_running_loop()
            cpu_before, started = cpu_seconds(pid), loop.time()
            client_cpu_before = cpu_seconds(os.getpid())
            until[0] = started + args.duration
            lag: list[float] = []
            lag_watch = asyncio.create_task(watch_loop_lag(lag, until))
            for listener in listeners:
                listener.timed_from_ms = time.time() * 1000
            senders = [
                asyncio.create_task(c.send_steadily(i * interval_s / n, interval_s, until[0]))
                for i, c in enumerate(echoes)
            ]
            peak_rss = rss_all
            while loop.time() < until[0]:
                await asyncio.sleep(min(1.0, until[0] - loop.time()))  # a sampling period
                peak_rss = max(peak_rss, rss_kib(pid))
            await asyncio.gather(*senders, lag_watch)
            cpu_used = cpu_seconds(pid) - cpu_before
            client_cpu_used = cpu_seconds(os.getpid()) - client_cpu_before
            # SSE listeners stop at the first tick after `until`: one interval, give or take.
            await asyncio.wait(sse_receivers, timeout=2 * interval_s + DRAIN_S)
            with contextlib.suppress(TimeoutError):  # what is still missing then is lost
                async with asyncio.timeout(DRAIN_S):
                    await asyncio.gather(*(c.drained.wait() for c in echoes))
            for client in echoes:
                ws_tally.lost += len(client.pending)
            async with session.get(f"{url}/api/stats") as response:
                stats = await response.json()
            await asyncio.gather(*(client.close() for client in echoes))
            minimum_ticks = int(args.duration / interval_s) - 1
            for listener in listeners:
                assert listener.response is not None
                listener.response.close()
                listener.count_lost(minimum_ticks)
            await asyncio.gather(*receivers, return_exceptions=True)
            ws_tally.failed += sum(c.failed for c in echoes)
            sse_tally.failed += sum(s.failed for s in listeners)
    finally:
        process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.kill()

    def per_connection(delta_kib: int, count: int) -> float | None:
        return round(delta_kib / count, 1) if count else None

    return {
        "machine": machine(),
        # Other programs on the machine show here; they also show in the latency tails.
        "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
        "settings": {
            "connections_per_protocol": n,
            "duration_s": args.duration,
            "interval_ms": args.interval_ms,
            "client_open_file_limit": nofile,
        },
        "memory_kib": {
            "server_rss_at_rest": rss_base,
            "server_rss_with_ws": rss_ws,
            "server_rss_with_ws_and_sse": rss_all,
            "server_rss_peak_under_traffic": peak_rss,
            "per_websocket": per_connection(rss_ws - rss_base, ws_tally.connections),
            "per_sse_stream": per_connection(rss_all - rss_ws, sse_tally.connections),
        },
        "server_cpu_percent": round(100 * cpu_used / args.duration, 1),
        "client_cpu_percent": round(100 * client_cpu_used / args.duration, 1),
        "client_loop_lag_ms": percentiles(lag),
        "websocket": summary(ws_tally),
        "sse": summary(sse_tally),
        "server_stats": {"refused": stats.get("refused"), "protocols": stats.get("protocols")},
    }


def summary(tally: Tally) -> dict[str, Any]:
    data = asdict(tally)
    data.pop("latencies_ms")
    data["latency_ms"] = percentiles(tally.latencies_ms)
    return data


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1) if found else cpu
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
    }


def report(result: dict[str, Any]) -> str:
    memory, ws, sse = result["memory_kib"], result["websocket"], result["sse"]
    lines = [
        f"machine: {result['machine']}",
        f"settings: {result['settings']}",
        f"load average: {result['load_average_1_5_15_min']}",
        f"server RSS: rest {memory['server_rss_at_rest']} KiB, +WS {memory['server_rss_with_ws']}"
        f" KiB, +SSE {memory['server_rss_with_ws_and_sse']} KiB,"
        f" peak {memory['server_rss_peak_under_traffic']} KiB",
        f"per connection: WebSocket {memory['per_websocket']} KiB,"
        f" SSE {memory['per_sse_stream']} KiB",
        f"server CPU: {result['server_cpu_percent']} % of one core,"
        f" client CPU: {result['client_cpu_percent']} %",
        f"client event-loop lag ms: {result['client_loop_lag_ms']}",
    ]
    for name, tally in (("WebSocket echo RTT", ws), ("SSE tick delay", sse)):
        lines.append(
            f"{name}: {tally['connections']} connected, {tally['failed']} failed, "
            f"{tally['received']}/{tally['sent']} received, {tally['lost']} lost, "
            f"{tally['duplicated']} duplicated, {tally['behind']} behind schedule, "
            f"latency ms {tally['latency_ms']}"
        )
    lines.append(f"server refused: {result['server_stats']['refused']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--connections", type=int, default=1000, help="WebSockets, and as many SSE streams"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument(
        "--interval-ms", type=int, default=1000, help="ms between messages, per connection"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ws, sse = result["websocket"], result["sse"]
    ok = not any(tally[key] for tally in (ws, sse) for key in ("lost", "duplicated", "failed"))
    ok = ok and ws["connections"] == sse["connections"] == args.connections
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
