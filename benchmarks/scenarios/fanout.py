"""Room fan-out: one message to 1,000 subscribers, half WebSocket and half SSE (project only).

The subscribers join `/ws/room/bench` and `/sse/room/bench` from one load-generator process;
the same process publishes with keep-alive `POST /http/room/bench`, each message's text
carrying its send time (`CLOCK_MONOTONIC`, shared by all processes of the machine).
Delivery delay = arrival at a subscriber - publish time, for every subscriber of every
message; one message at a time, each once everyone has the previous one. Then the sustained
rate: publishing for the measured seconds over 8 keep-alive connections, with at most 8
messages not yet delivered to everyone (one connection would wait for each response, which
comes once the server has written to every subscriber: it would time a round trip);
rate = messages delivered to all subscribers ÷ seconds. The room's rate limit is switched
off for this run (`--room-rate 0`): a publisher limited to 20 messages a second would
measure the limit.

The server writes each message to every subscriber's socket inside the publish, framed once
(server/wire/fanout.py). Its floor is one `send` system call per subscriber (~7 µs of CPU on
loopback here, where it also runs the receiving half of TCP): a fan-out to 1,000 costs the
server about 1,000 of them, and the load generator about as much again to read them, on the
same 2 cores. Whether a delay comes from the server or the instrument is shown in the second
table, for the timed messages: CPU time of each process per message, the time each spent
runnable but waiting for a CPU (`/proc/PID/task/*/schedstat`, second field: other work on
the machine, or the other process), and the load generator's event-loop lag (how late a 2 ms
timer fires: how late it can be to read a socket that is ready, added to every delivery it
times).
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Context, Section, Table, Target, fmt
from benchmarks.servers import PROJECT

TITLE = "Room fan-out"
TARGET_P99_MS = 50.0


def run(ctx: Context) -> Section:
    p = ctx.profile
    subscribers = p.fanout_subscribers
    ws, sse = subscribers // 2, subscribers - subscribers // 2
    ctx.progress(f"fan-out: {ws} WS + {sse} SSE subscribers")
    with ctx.fresh(PROJECT, "--room-rate", "0") as running:
        result = ctx.loadgen(
            "fanout",
            running,
            *("--ws", str(ws), "--sse", str(sse), "--messages", str(p.fanout_messages)),
            *("--duration", str(p.duration_s)),
        )
    latency = result["latency_ms"]
    wall = result["wall_s"]
    rate = result["sustained_completed"] / wall if wall else None
    deliveries = result["sustained_completed"] * subscribers
    cpu_per_delivery = result["server_cpu_s"] / deliveries * 1e6 if deliveries else None
    ctx.progress(
        f"fan-out: p50 {fmt(latency['p50'], 2)} ms, p99 {fmt(latency['p99'], 2)} ms, "
        f"{fmt(rate, 0)} messages/s to all"
    )
    table = Table(
        [
            "subscribers",
            "delivery p50 ms",
            "p99 ms",
            "max ms",
            "sustained messages/s",
            "deliveries/s",
            "server CPU µs/delivery",
            "server cores",
            "dropped",
        ],
        [
            [
                f"{result['subscribers']['ws']} WS + {result['subscribers']['sse']} SSE",
                fmt(latency["p50"], 2),
                fmt(latency["p99"], 2),
                fmt(latency["max"], 2),
                fmt(rate, 0),
                fmt(rate * subscribers if rate else None, 0),
                fmt(cpu_per_delivery, 2),
                fmt(result["server_cpu_s"] / wall if wall else None, 2),
                str(result["dropped_subscribers"]),
            ]
        ],
        caption=(
            f"{result['latency_messages']} messages timed one at a time "
            f"({result['latency_deliveries']} deliveries); then {p.duration_s:g} s sustained"
        ),
    )
    tables = [table, phase_table(result)]
    p99 = latency["p99"]
    complete = result["incomplete_messages"] == 0 and result["dropped_subscribers"] == 0
    notes = []
    if not complete:
        notes.append(
            f"Not every message reached every subscriber: {result['incomplete_messages']} "
            f"incomplete, {result['dropped_subscribers']} subscribers dropped."
        )
    return Section(
        key="fanout",
        title=TITLE,
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=tables,
        notes=notes,
        targets=[
            Target(
                f"fan-out to {subscribers}: delivery p99 < {TARGET_P99_MS:g} ms",
                f"{fmt(p99, 1)} ms",
                None if p99 is None else p99 < TARGET_P99_MS and complete,
            )
        ],
        data={"result": result, "sustained_messages_per_s": rate},
    )


def phase_table(result: dict[str, Any]) -> Table:
    """Where a timed message's time went: each process's CPU and run-queue wait per message,
    and the load generator's loop lag."""
    phase = result.get("latency_phase") or {}
    messages = result["latency_messages"] or 1
    cpu, wait = phase.get("cpu_s", {}), phase.get("run_wait_s", {})
    lag = phase.get("loop_lag_ms") or {}

    def per_message_ms(seconds: float | None) -> str:
        return fmt(None if seconds is None else seconds / messages * 1000, 2)

    return Table(
        [
            "wall ms/message",
            "server CPU ms",
            "server waiting for a CPU ms",
            "load generator CPU ms",
            "load generator waiting for a CPU ms",
            "load generator loop lag p99 / max ms",
        ],
        [
            [
                per_message_ms(phase.get("wall_s")),
                per_message_ms(cpu.get("server")),
                per_message_ms(wait.get("server")),
                per_message_ms(cpu.get("loadgen")),
                per_message_ms(wait.get("loadgen")),
                f"{fmt(lag.get('p99'), 1)} / {fmt(lag.get('max'), 1)}",
            ]
        ],
        caption="the timed messages, per message (one at a time, each to every subscriber)",
    )
