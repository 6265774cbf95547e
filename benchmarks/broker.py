#!/usr/bin/env python3
"""Rooms in memory vs rooms in Redis, with 1 and 3 processes; and what faults cost.

    .venv/bin/python benchmarks/broker.py                  # about a minute
    .venv/bin/python benchmarks/broker.py --quick --json out.json

Everything runs on loopback: a private `redis-server` on a free port (`--save ''`), and
`python -m server` subprocesses with `--room-rate 0` (the rate limit is not what is measured).

1. **Fan-out latency.** `--subscribers` WebSocket subscribers, spread over the processes,
   join one room; one WebSocket publisher on process 1 sends `--messages` messages at
   `--rate` per second (default 50: under what every hub sustains here, so latency is not
   a queue growing at saturation). Latency = arrival at a subscriber - the publisher's send,
   both on this process's monotonic clock. Percentiles over every (message, subscriber) pair.
2. **Publish throughput.** Four HTTP clients POST `--burst` messages as fast as the server
   answers, over the processes in turn, while the subscribers stay connected. Reported: messages
   per second, and server CPU time per published message (user + system time of every server
   process from /proc, which is steadier than wall time on a shared machine; Redis's own CPU
   is reported apart). Each configuration runs `--rounds` times, interleaved; medians are
   reported, and ratios against the in-memory single process of the same run.
3. **Faults.** A publisher POSTs at 50/s for a few seconds while a WebSocket, an SSE and an
   HTTP long-poll client follow the room (each reconnecting and resuming from its cursor, on
   another process when there is one). Mid-run: Redis is killed and restarted empty; or a
   server process is stopped and started again. For each protocol: messages acknowledged
   (201) to the publisher, received, lost (acknowledged, never received), duplicated, and
   the notices the client was given (broker, reset, gap).

Exit status 0 when it ran to the end; 2 when redis-server is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from client.sse_parser import EventStreamParser  # noqa: E402  (the client's own parser)

START_LIMIT_S = 30.0
SETTLE_S = 8.0  # how long followers get to catch up after publishing stops
RETRY_S = 0.1  # a follower's pause before reconnecting (a timer, as a real client's back-off)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Process:
    """A subprocess started with `argv`, ready when a stdout line matches `ready`."""

    def __init__(self, argv: list[str], ready: str) -> None:
        self.argv, self.ready = argv, ready
        self.proc: asyncio.subprocess.Process | None = None
        self.banner = ""
        self._drain: asyncio.Task[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(START_LIMIT_S):
            while self.ready not in (line := (await self.proc.stdout.readline()).decode()):
                if not line:
                    raise RuntimeError(f"{self.argv[0]} exited before it was ready")
        self.banner = line
        self._drain = asyncio.create_task(self.proc.stdout.read())

    async def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signum)
            await self.proc.wait()
        if self._drain is not None:
            await self._drain
            self._drain = None


def redis_process(port: int) -> Process:
    argv = [shutil.which("redis-server") or "redis-server", "--port", str(port)]
    argv += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--logfile", ""]
    return Process(argv, "Ready to accept connections")


def server_process(port: int, broker: str | None) -> Process:
    argv = [sys.executable, "-m", "server", "--port", str(port), "--log-level", "warning"]
    argv += ["--room-rate", "0", "--max-connections-per-ip", "0"]
    if broker:
        argv += ["--broker", broker]
    return Process(argv, "serving on")


@dataclass
class Cluster:
    """`count` server processes on fixed free ports, with Redis when `broker` is set."""

    count: int
    broker: str | None
    servers: list[Process] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    async def start(self) -> None:
        self.ports = [free_port() for _ in range(self.count)]
        self.servers = [server_process(port, self.broker) for port in self.ports]
        for server in self.servers:
            await server.start()

    async def stop(self) -> None:
        for server in self.servers:
            await server.stop()

    def cpu(self) -> float:
        return sum(cpu_seconds(server.pid) for server in self.servers)


# -- 1 and 2: latency and throughput ---------------------------------------------------------


@dataclass
class Speed:
    """One configuration's results (medians over rounds)."""

    name: str
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float
    publish_per_s: float
    server_cpu_ms_per_publish: float
    redis_cpu_ms_per_publish: float | None
    delivered: int
    expected: int


async def measure_speed(
    name: str, cluster: Cluster, redis: Process | None, args: argparse.Namespace, rnd: int
) -> dict[str, Any]:
    room = f"speed-{name.replace(' ', '-')}-{rnd}"
    urls = cluster.urls
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        subs = [
            await session.ws_connect(f"{urls[i % len(urls)]}/ws/room/{room}?after=0")
            for i in range(args.subscribers)
        ]
        arrivals: list[dict[int, float]] = [{} for _ in subs]
        readers = [
            asyncio.create_task(_collect(ws, arrived))
            for ws, arrived in zip(subs, arrivals, strict=True)
        ]
        # Warm-up: every subscriber is live once it has seen message "-1".
        publisher = await session.ws_connect(f"{urls[0]}/ws/room/{room}")
        await publisher.send_json({"user": "bench", "text": "-1"})
        await _until(lambda: all(-1 in a for a in arrivals), 15)
        sent: dict[int, float] = {}
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(args.messages):
            await asyncio.sleep(max(0.0, start + index / args.rate - loop.time()))
            sent[index] = time.perf_counter()
            await publisher.send_json({"user": "bench", "text": str(index)})
        await _until(lambda: all(len(a) > args.messages for a in arrivals), 20, strict=False)
        latencies = [
            (arrived[i] - sent[i]) * 1000 for arrived in arrivals for i in sent if i in arrived
        ]
        delivered = sum(len(a) - 1 for a in arrivals)
        # Throughput, subscribers still connected (fan-out is part of a publish's cost).
        cpu0, redis0 = cluster.cpu(), cpu_seconds(redis.pid) if redis else 0.0
        began = time.perf_counter()
        await asyncio.gather(
            *(_post_many(session, urls, room, args.burst // 4, k) for k in range(4))
        )
        wall = time.perf_counter() - began
        cpu1, redis1 = cluster.cpu(), cpu_seconds(redis.pid) if redis else 0.0
        burst = args.burst // 4 * 4
        for task in readers:
            task.cancel()
        for ws in [*subs, publisher]:
            await ws.close()
    return {
        "latencies": latencies,
        "publish_per_s": burst / wall,
        "server_cpu_ms": (cpu1 - cpu0) * 1000 / burst,
        "redis_cpu_ms": (redis1 - redis0) * 1000 / burst if redis else None,
        "delivered": delivered,
        "expected": args.messages * args.subscribers,
    }


async def _collect(ws: aiohttp.ClientWebSocketResponse, arrived: dict[int, float]) -> None:
    async for frame in ws:
        if frame.type is not aiohttp.WSMsgType.TEXT:
            return
        now = time.perf_counter()
        message = json.loads(frame.data)
        text = message.get("text", "") if "id" in message else ""
        if text.lstrip("-").isdigit():
            arrived.setdefault(int(text), now)


async def _post_many(
    session: aiohttp.ClientSession, urls: list[str], room: str, count: int, worker: int
) -> None:
    for index in range(count):
        url = f"{urls[(index + worker) % len(urls)]}/http/room/{room}"
        async with session.post(url, json={"user": "bench", "text": f"b{worker}-{index}"}) as r:
            if r.status != 201:
                raise RuntimeError(f"POST {url} answered {r.status}: {await r.text()}")


async def _until(condition: Callable[[], bool], limit_s: float, strict: bool = True) -> None:
    try:
        async with asyncio.timeout(limit_s):
            while not condition():  # noqa: ASYNC110 (the clients offer no event to wait on)
                await asyncio.sleep(0.01)
    except TimeoutError:
        if strict:
            raise


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- 3: faults -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one follower saw."""

    protocol: str
    received: list[str] = field(default_factory=list)
    notices: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0


async def follow_ws(
    session: aiohttp.ClientSession, urls: list[str], room: str, tally: Tally, stop: asyncio.Event
) -> None:
    cursor, turn = "0", 0
    while not stop.is_set():
        try:
            async with session.ws_connect(
                f"{urls[turn % len(urls)]}/ws/room/{room}?after={cursor}"
            ) as ws:
                async for frame in ws:
                    if frame.type is not aiohttp.WSMsgType.TEXT:
                        break
                    item = json.loads(frame.data)
                    if "id" in item:
                        tally.received.append(item["text"])
                        cursor = f"{item['epoch']}-{item['id']}"
                    else:
                        tally.notices[next(iter(item))] += 1
        except (aiohttp.ClientError, OSError):
            pass
        if not stop.is_set():
            tally.reconnects += 1
            turn += 1
            await asyncio.sleep(RETRY_S)


async def follow_sse(
    session: aiohttp.ClientSession, urls: list[str], room: str, tally: Tally, stop: asyncio.Event
) -> None:
    parser, turn = EventStreamParser(), 0
    while not stop.is_set():
        url = f"{urls[turn % len(urls)]}/sse/room/{room}?after=0"
        headers = {"Last-Event-ID": parser.last_event_id} if parser.last_event_id else {}
        try:
            async with session.get(url, headers=headers) as response:
                parser.reset()
                async for chunk in response.content.iter_any():
                    for event in parser.feed(chunk):
                        if event.type == "message":
                            tally.received.append(json.loads(event.data)["text"])
                        else:
                            tally.notices[event.type] += 1
        except (aiohttp.ClientError, OSError):
            pass
        if not stop.is_set():
            tally.reconnects += 1
            turn += 1
            await asyncio.sleep(RETRY_S)


async def follow_http(
    session: aiohttp.ClientSession, urls: list[str], room: str, tally: Tally, stop: asyncio.Event
) -> None:
    cursor, turn = "0", 0
    while not stop.is_set():
        url = f"{urls[turn % len(urls)]}/http/room/{room}?since={cursor}&wait=1"
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    if response.headers.get("X-Room-Reset"):
                        tally.notices["reset"] += 1
                    if response.headers.get("X-Lost-Messages"):
                        tally.notices["gap"] += 1
                    tally.received += [m["text"] for m in await response.json()]
                    cursor = response.headers["X-Room-Cursor"]
                    turn += 1  # every poll on the next process: no sticky session needed
                    continue
                tally.notices[f"http {response.status}"] += 1
        except (aiohttp.ClientError, OSError):
            pass
        tally.reconnects += 1
        turn += 1
        await asyncio.sleep(RETRY_S)


async def publish_steady(
    session: aiohttp.ClientSession, urls: list[str], room: str, rate: float, done: asyncio.Event
) -> tuple[list[str], int]:
    acked, refused = [], 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in itertools.count():
        if done.is_set():
            break
        await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        text = f"f{index}"
        try:
            async with session.post(
                f"{urls[index % len(urls)]}/http/room/{room}", json={"user": "pub", "text": text}
            ) as response:
                if response.status == 201:
                    acked.append(text)
                else:
                    refused += 1
        except (aiohttp.ClientError, OSError):
            refused += 1
    return acked, refused


async def measure_fault(
    name: str,
    cluster: Cluster,
    follow_urls: list[str],
    fault: Callable[[], Awaitable[None]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    room = "faults-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    stop = asyncio.Event()
    tallies = [Tally("ws"), Tally("sse"), Tally("http")]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        followers = [
            asyncio.create_task(follow(session, follow_urls, room, tally, stop))
            for follow, tally in zip((follow_ws, follow_sse, follow_http), tallies, strict=True)
        ]
        done = asyncio.Event()
        publisher = asyncio.create_task(publish_steady(session, cluster.urls, room, 50, done))
        await asyncio.sleep(args.fault_seconds / 2)  # steady traffic, then the fault
        await fault()
        await asyncio.sleep(args.fault_seconds / 2)  # and steady traffic after it
        done.set()
        acked, refused = await publisher
        wanted = set(acked)
        await _until(
            lambda: all(wanted <= set(t.received) for t in tallies), SETTLE_S, strict=False
        )
        stop.set()
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
    rows = []
    for tally in tallies:
        seen = Counter(tally.received)
        rows.append(
            {
                "scenario": name,
                "protocol": tally.protocol,
                "acknowledged": len(acked),
                "refused": refused,
                "received": len(tally.received),
                "lost": len(wanted - set(seen)),
                "duplicated": sum(n - 1 for n in seen.values() if n > 1),
                "notices": dict(sorted(tally.notices.items())),
                "reconnects": tally.reconnects,
            }
        )
    return {"rows": rows}


# -- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("redis-server") is None:
        print(
            "benchmarks/broker.py needs redis-server "
            "(make test installs it: scripts/system-deps.sh)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    redis = redis_process(free_port())
    await redis.start()
    broker = f"redis://127.0.0.1:{redis.argv[2]}/0"
    configs = [
        ("memory x1", Cluster(1, None)),
        ("redis x1", Cluster(1, broker)),
        ("redis x3", Cluster(3, broker)),
    ]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in configs}
    try:
        for _, cluster in configs:
            await cluster.start()
        for rnd in range(args.rounds):  # interleaved, so a busy moment hits every config
            for name, cluster in configs:
                uses_redis = redis if cluster.broker else None
                results[name].append(await measure_speed(name, cluster, uses_redis, args, rnd))
        for _, cluster in configs:
            await cluster.stop()
        speeds = [_summarise(name, runs) for name, runs in results.items()]
        faults = await _faults(redis, broker, args)
    finally:
        for _, cluster in configs:
            await cluster.stop()
        await redis.stop()
    machine = {
        "cpus": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
    }
    return {
        "speed": [asdict(s) for s in speeds],
        "faults": faults,
        "settings": vars(args),
        "machine": machine,
    }


def _summarise(name: str, runs: list[dict[str, Any]]) -> Speed:
    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    def median_pct(q: float) -> float:
        return statistics.median(percentile(run["latencies"], q) for run in runs)

    redis_cpu = [run["redis_cpu_ms"] for run in runs if run["redis_cpu_ms"] is not None]
    return Speed(
        name,
        round(median_pct(0.50), 2),
        round(median_pct(0.95), 2),
        round(median_pct(0.99), 2),
        round(median("publish_per_s")),
        round(median("server_cpu_ms"), 3),
        round(statistics.median(redis_cpu), 3) if redis_cpu else None,
        sum(run["delivered"] for run in runs),
        sum(run["expected"] for run in runs),
    )


async def _faults(redis: Process, broker: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    async def redis_crash() -> None:
        await redis.stop(signal.SIGKILL)
        await asyncio.sleep(1.0)  # Redis stays away for a second
        await redis.start()

    shared = Cluster(3, broker)
    await shared.start()
    try:
        rows += (
            await measure_fault(
                "Redis killed and restarted empty (3 processes)",
                shared,
                shared.urls,
                redis_crash,
                args,
            )
        )["rows"]
    finally:
        await shared.stop()

    for label, cluster in (
        ("server restarted, rooms in memory (1 process)", Cluster(1, None)),
        ("server restarted, rooms in Redis (2 processes)", Cluster(2, broker)),
    ):
        await cluster.start()

        async def restart_first(cluster: Cluster = cluster) -> None:
            await cluster.servers[0].stop()
            await asyncio.sleep(1.0)  # the process stays away for a second
            await cluster.servers[0].start()

        try:
            rows += (await measure_fault(label, cluster, cluster.urls, restart_first, args))[
                "rows"
            ]
        finally:
            await cluster.stop()
    return rows


SPEED_COLUMNS = [
    "hub",
    "fan-out p50 ms",
    "p95 ms",
    "p99 ms",
    "p50 ÷ memory x1",
    "publishes/s",
    "÷ memory x1",
    "server CPU ms / publish",
    "÷ memory x1",
    "Redis CPU ms / publish",
    "delivered / expected",
]
FAULT_COLUMNS = [
    "scenario",
    "protocol",
    "acknowledged",
    "refused (503 or no answer)",
    "received",
    "lost",
    "duplicated",
    "notices",
    "reconnects",
]


def table(columns: list[str], rows: list[list[object]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def report(result: dict[str, Any]) -> str:
    """Both tables, ratios against the first configuration (memory x1) of the same run."""
    speeds = result["speed"]
    base = speeds[0]
    speed_rows = []
    for s in speeds:
        redis_cpu = s["redis_cpu_ms_per_publish"]
        cpu = s["server_cpu_ms_per_publish"]
        speed_rows.append(
            [
                s["name"],
                f"{s['latency_ms_p50']:.2f}",
                f"{s['latency_ms_p95']:.2f}",
                f"{s['latency_ms_p99']:.2f}",
                f"{s['latency_ms_p50'] / base['latency_ms_p50']:.2f}",
                s["publish_per_s"],
                f"{s['publish_per_s'] / base['publish_per_s']:.2f}",
                f"{cpu:.3f}",
                f"{cpu / base['server_cpu_ms_per_publish']:.2f}",
                "—" if redis_cpu is None else f"{redis_cpu:.3f}",
                f"{s['delivered']} / {s['expected']}",
            ]
        )
    fault_rows = [
        [
            row["scenario"],
            row["protocol"],
            row["acknowledged"],
            row["refused"],
            row["received"],
            row["lost"],
            row["duplicated"],
            ", ".join(f"{k} {v}" for k, v in row["notices"].items()) or "none",
            row["reconnects"],
        ]
        for row in result["faults"]
    ]
    machine = result["machine"]
    settings = result["settings"]
    header = (
        f"{settings['subscribers']} WebSocket subscribers, {settings['messages']} messages at "
        f"{settings['rate']:g}/s for latency, {settings['burst']} POSTs for throughput, "
        f"medians of {settings['rounds']} rounds; {machine['cpus']} CPUs, load average "
        f"{machine['load_average_1min_at_end']} at the end, Python {machine['python']}"
    )
    return "\n".join(
        [header, "", *table(SPEED_COLUMNS, speed_rows), "", *table(FAULT_COLUMNS, fault_rows)]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=30)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument(
        "--rate", type=float, default=50.0, help="publishes per second while timing fan-out"
    )
    parser.add_argument("--burst", type=int, default=2000, help="messages POSTed for throughput")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fault-seconds", type=float, default=6.0)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, one round (a smoke test)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers, args.messages, args.burst, args.rounds, args.fault_seconds = (
            6,
            40,
            200,
            1,
            3.0,
        )
    os.chdir(ROOT)
    result = asyncio.run(run(args))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
