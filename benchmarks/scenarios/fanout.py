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

The measurement runs twice, each time on a fresh server, with one row per kind of WebSocket
subscriber (the SSE half is the same both times):

- **raw clients, no compression**: the WebSockets offer no extension (a script, or a
  library that does not ask for one). The server writes each message, framed once per
  publish, straight to every socket (server/wire/fanout.py). The issue's target (p99 < 50 ms)
  is judged on this row.
- **browser-like: WS with permessage-deflate**: every WebSocket offers
  `permessage-deflate; client_max_window_bits`, as Chromium does (the server accepts it by
  default, `--ws-compress`), and inflates each message (one inflate stream per connection,
  kept across messages, as a browser keeps it) before finding its stamp. The server answers
  room WebSockets with `server_no_context_takeover`, so each message is compressed once per
  publish and the same compressed frame goes straight to every socket, as for raw clients.
  This row is what a room of browsers gets; no target is judged on it.

The server's RSS per subscriber is its growth from before anyone joined to the end of the
run, everyone still connected: what a subscriber costs in memory, its connection, buffers
and any compressor included.

For raw clients the server's floor is one `send` system call per subscriber (~7 µs of CPU on
loopback here, where it also runs the receiving half of TCP): a fan-out to 1,000 costs the
server about 1,000 of them, and the load generator about as much again to read them, on the
same 2 cores. Whether a delay comes from the server or the instrument is shown in the second
table, for the timed messages: CPU time of each process per message, the time each spent
runnable but waiting for a CPU (`/proc/PID/task/*/schedstat`, second field: other work on
the machine, or the other process), and the load generator's event-loop lag (how late a 2 ms
timer fires: how late it can be to read a socket that is ready, added to every delivery it
times). The browser-like load generator also inflates every WebSocket message, which its
CPU column includes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.harness import Context, Section, Table, Target, fmt, fmt_ratio, ratio
from benchmarks.servers import PROJECT

TITLE = "Room fan-out"
TARGET_P99_MS = 50.0


@dataclass(frozen=True)
class Kind:
    """One kind of WebSocket subscriber, one row of the tables."""

    key: str  # where its numbers are in performance.json
    label: str
    options: tuple[str, ...]  # for the load generator


RAW = Kind("raw", "raw clients, no compression", ())
BROWSER_LIKE = Kind("browser_like", "browser-like: WS with permessage-deflate", ("--deflate",))


def run(ctx: Context) -> Section:
    p = ctx.profile
    subscribers = p.fanout_subscribers
    results = {kind.key: measure(ctx, kind) for kind in (RAW, BROWSER_LIKE)}
    raw, browser = results[RAW.key], results[BROWSER_LIKE.key]
    tables = [
        Table(
            [
                "subscriber kind",
                "subscribers",
                "delivery p50 ms",
                "p99 ms",
                "max ms",
                "sustained messages/s",
                "deliveries/s",
                "server CPU µs/delivery",
                "server cores",
                "server RSS KiB/subscriber",
                "dropped",
            ],
            [delivery_row(kind, results[kind.key], subscribers) for kind in (RAW, BROWSER_LIKE)],
            caption=(
                f"each row: {p.fanout_messages} messages timed one at a time "
                f"({raw['result']['latency_deliveries']} and "
                f"{browser['result']['latency_deliveries']} "
                f"deliveries); then {p.duration_s:g} s sustained. "
                f"The target is judged on the first row only"
            ),
        ),
        phase_table(results),
    ]
    p99 = raw["result"]["latency_ms"]["p99"]
    notes = [*incomplete_notes(results), *deflate_notes(browser), comparison(raw, browser)]
    complete = (
        not raw["result"]["incomplete_messages"] and not raw["result"]["dropped_subscribers"]
    )
    return Section(
        key="fanout",
        title=TITLE,
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=tables,
        notes=notes,
        targets=[
            Target(
                f"fan-out to {subscribers} ({RAW.label}): delivery p99 < {TARGET_P99_MS:g} ms",
                f"{fmt(p99, 1)} ms",
                None if p99 is None else p99 < TARGET_P99_MS and complete,
            )
        ],
        # The raw row keeps the keys it always had; the browser-like row sits beside them.
        data={
            **raw,
            BROWSER_LIKE.key: {**browser, "label": BROWSER_LIKE.label},
            "label": RAW.label,
        },
    )


def measure(ctx: Context, kind: Kind) -> dict[str, Any]:
    """One fan-out run on a fresh server; the load generator's result and the rate derived
    from it ({"result": ..., "sustained_messages_per_s": ...})."""
    p = ctx.profile
    subscribers = p.fanout_subscribers
    ws, sse = subscribers // 2, subscribers - subscribers // 2
    ctx.progress(f"fan-out ({kind.label}): {ws} WS + {sse} SSE subscribers")
    with ctx.fresh(PROJECT, "--room-rate", "0") as running:
        result = ctx.loadgen(
            "fanout",
            running,
            *("--ws", str(ws), "--sse", str(sse), "--messages", str(p.fanout_messages)),
            *("--duration", str(p.duration_s)),
            *kind.options,
        )
    wall = result["wall_s"]
    rate = result["sustained_completed"] / wall if wall else None
    latency = result["latency_ms"]
    ctx.progress(
        f"fan-out ({kind.label}): p50 {fmt(latency['p50'], 2)} ms, "
        f"p99 {fmt(latency['p99'], 2)} ms, {fmt(rate, 0)} messages/s to all"
    )
    return {"result": result, "sustained_messages_per_s": rate}


def cpu_us_per_delivery(measured: dict[str, Any], subscribers: int) -> float | None:
    """Server CPU over the sustained seconds ÷ deliveries completed in them."""
    result = measured["result"]
    deliveries = result["sustained_completed"] * subscribers
    return result["server_cpu_s"] / deliveries * 1e6 if deliveries else None


def delivery_row(kind: Kind, measured: dict[str, Any], subscribers: int) -> list[str]:
    result, rate = measured["result"], measured["sustained_messages_per_s"]
    latency, wall = result["latency_ms"], result["wall_s"]
    return [
        kind.label,
        f"{result['subscribers']['ws']} WS + {result['subscribers']['sse']} SSE",
        fmt(latency["p50"], 2),
        fmt(latency["p99"], 2),
        fmt(latency["max"], 2),
        fmt(rate, 0),
        fmt(rate * subscribers if rate else None, 0),
        fmt(cpu_us_per_delivery(measured, subscribers), 2),
        fmt(result["server_cpu_s"] / wall if wall else None, 2),
        fmt(rss_kib_per_subscriber(result), 1),
        str(result["dropped_subscribers"]),
    ]


def rss_kib_per_subscriber(result: dict[str, Any]) -> float | None:
    """The server's RSS growth from before anyone joined to the end of the run (everyone
    still connected, every message sent) ÷ the subscribers: what a subscriber costs in
    memory, connection, buffers and (for deflate) any compressor included."""
    rss: dict[str, int | None] = result.get("server_rss_kib") or {}
    before, after = rss.get("before"), rss.get("after")
    subscribers: int = sum(result["subscribers"].values())
    if before is None or after is None or not subscribers:
        return None
    return (after - before) / subscribers


def incomplete_notes(results: dict[str, dict[str, Any]]) -> list[str]:
    notes = []
    for kind in (RAW, BROWSER_LIKE):
        result = results[kind.key]["result"]
        if result["incomplete_messages"] or result["dropped_subscribers"]:
            notes.append(
                f"{kind.label}: not every message reached every subscriber: "
                f"{result['incomplete_messages']} incomplete, "
                f"{result['dropped_subscribers']} subscribers dropped."
            )
    return notes


def deflate_notes(browser: dict[str, Any]) -> list[str]:
    """Whether the browser-like row measured what it says: deflate negotiated, messages
    inflated."""
    result = browser["result"]
    deflate = result.get("ws_deflate") or {}
    ws = result["subscribers"]["ws"]
    negotiated = deflate.get("negotiated", 0)
    if negotiated < ws:
        return [
            f"{BROWSER_LIKE.label}: only {negotiated} of {ws} WebSockets negotiated "
            "permessage-deflate (is the server running with `--no-ws-compress`?); "
            "the others were read uncompressed."
        ]
    return [
        f"{BROWSER_LIKE.label}: all {ws} WebSockets negotiated permessage-deflate; the load "
        f"generator inflated {deflate.get('compressed_messages', 0):,} compressed messages "
        "(warm-up and sustained included)."
    ]


def comparison(raw: dict[str, Any], browser: dict[str, Any]) -> str:
    """The browser-like row as ratios to the raw row, measured in the same run."""
    subscribers = sum(raw["result"]["subscribers"].values())
    p99 = ratio(browser["result"]["latency_ms"]["p99"], raw["result"]["latency_ms"]["p99"])
    cpu = ratio(cpu_us_per_delivery(browser, subscribers), cpu_us_per_delivery(raw, subscribers))
    rate = ratio(browser["sustained_messages_per_s"], raw["sustained_messages_per_s"])
    return (
        f"{BROWSER_LIKE.label} ÷ {RAW.label}, same run: delivery p99 {fmt_ratio(p99)}, "
        f"server CPU per delivery {fmt_ratio(cpu)}, sustained rate {fmt_ratio(rate)}. "
        "Half the subscribers are SSE, served alike in both rows, so the WebSocket half's own "
        "difference is larger than these ratios: a browser-like WebSocket delivery costs the "
        f"server {fmt(extra_ws_cpu_us(raw, browser), 1)} µs of CPU more than a raw one, "
        "sustained (the rows' difference in server CPU per message ÷ the WebSockets)."
    )


def extra_ws_cpu_us(raw: dict[str, Any], browser: dict[str, Any]) -> float | None:
    """Server CPU per WebSocket delivery that deflate adds, over the sustained seconds: the
    SSE half costs the same in both rows, so the difference per message is the WebSockets'."""
    per_message = []
    for measured in (raw, browser):
        result = measured["result"]
        if not result["sustained_completed"]:
            return None
        per_message.append(result["server_cpu_s"] / result["sustained_completed"])
    ws = browser["result"]["subscribers"]["ws"]
    return (per_message[1] - per_message[0]) / ws * 1e6 if ws else None


def phase_table(results: dict[str, dict[str, Any]]) -> Table:
    """Where a timed message's time went, per subscriber kind: each process's CPU and
    run-queue wait per message, and the load generator's loop lag."""
    return Table(
        [
            "subscriber kind",
            "wall ms/message",
            "server CPU ms",
            "server waiting for a CPU ms",
            "load generator CPU ms",
            "load generator waiting for a CPU ms",
            "load generator loop lag p99 / max ms",
        ],
        [phase_row(kind, results[kind.key]["result"]) for kind in (RAW, BROWSER_LIKE)],
        caption="the timed messages, per message (one at a time, each to every subscriber)",
    )


def phase_row(kind: Kind, result: dict[str, Any]) -> list[str]:
    phase = result.get("latency_phase") or {}
    messages = result["latency_messages"] or 1
    cpu, wait = phase.get("cpu_s", {}), phase.get("run_wait_s", {})
    lag = phase.get("loop_lag_ms") or {}

    def per_message_ms(seconds: float | None) -> str:
        return fmt(None if seconds is None else seconds / messages * 1000, 2)

    return [
        kind.label,
        per_message_ms(phase.get("wall_s")),
        per_message_ms(cpu.get("server")),
        per_message_ms(wait.get("server")),
        per_message_ms(cpu.get("loadgen")),
        per_message_ms(wait.get("loadgen")),
        f"{fmt(lag.get('p99'), 1)} / {fmt(lag.get('max'), 1)}",
    ]
