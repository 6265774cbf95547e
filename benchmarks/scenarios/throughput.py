"""Server CPU per operation under the same load: WS echo, SSE stream, HTTP POST echo.

Every server serving a row gets the same load, one after the other, and the order repeats
for each round (A B C A B C ...), so slow drifts of the shared machine fall on all of them.
Each figure in the tables is the median over the rounds; ratios are ratios of medians.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import (
    TIMES,
    ChartPanel,
    Context,
    Section,
    Table,
    Target,
    fmt,
    fmt_ratio,
    get_json,
    median,
    ratio,
)
from benchmarks.servers import PROJECT, Running, ServerSpec

TITLE = "Server CPU per operation"
BASELINE = "aiohttp"
ROWS = {
    "ws": "WS echo",
    "sse": "SSE stream",
    "http": "HTTP POST echo",
}
UNITS = {"ws": "µs/msg", "sse": "µs/event", "http": "µs/req"}
# The peers of the uvloop target (issue 10): the other servers on a fast loop.
PEERS = ("aiohttp-uvloop", "starlette", "websockets")


def measure(ctx: Context, row: str, spec: ServerSpec) -> dict[str, Any]:
    """One measurement of `row` on `spec`: the load generator's window, with derived rates."""
    p = ctx.profile
    running = ctx.server(spec)
    window = [*("--warmup", str(p.warmup_s), "--duration", str(p.duration_s))]
    counted_before = _server_count(running, row) if spec.key.startswith("project") else None
    if row == "ws":
        result = ctx.loadgen(
            "ws-echo",
            running,
            *("--conns", str(p.conns), "--inflight", str(p.ws_inflight)),
            *("--size", str(p.ws_size), *window),
        )
    elif row == "sse":
        result = ctx.loadgen(
            "sse", running, *("--conns", str(p.conns), "--size", str(p.sse_size), *window)
        )
    else:
        warm = ctx.wrk(running, p.warmup_s)  # warm-up, not in the window
        result = ctx.wrk(running, p.duration_s)
        result["total_operations"] = warm["operations"] + result["operations"]
    if counted_before is not None:
        result["server_counted"] = _server_count(running, row) - counted_before
    ops = result["operations"]
    wall = result["wall_s"]
    result["cpu_us_per_op"] = result["server_cpu_s"] / ops * 1e6 if ops else None
    result["ops_per_s"] = ops / wall if wall else None
    result["server_cores"] = result["server_cpu_s"] / wall if wall else None
    result["client_cores"] = result["client_cpu_s"] / wall if wall else None
    result["client_us_per_op"] = result["client_cpu_s"] / ops * 1e6 if ops else None
    return result


def _server_count(running: Running, row: str) -> int:
    """Messages (responses, events) the project says it has sent on `row`'s protocol."""
    stats = get_json(f"{running.url}/api/stats")
    return int(stats["protocols"][row]["messages_out"])


def run(ctx: Context) -> Section:
    p = ctx.profile
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {row: {} for row in ROWS}
    for round_no in range(1, p.rounds + 1):
        for row in ROWS:
            for spec in ctx.serving(row):
                result = measure(ctx, row, spec)
                samples[row].setdefault(spec.key, []).append(result)
                ctx.progress(
                    f"{row} round {round_no}/{p.rounds} {spec.label}: "
                    f"{fmt(result['cpu_us_per_op'])} {UNITS[row]}, "
                    f"{fmt(result['ops_per_s'], 0)}/s"
                )
    summary = {row: _summarise(ctx, row, by_server) for row, by_server in samples.items()}
    return Section(
        key="throughput",
        title=TITLE,
        intro=_intro(ctx),
        tables=[_cpu_table(ctx, summary), _detail_table(ctx, summary)],
        notes=_notes(summary, samples),
        targets=[*_targets(ctx, summary), uvloop_target(ctx, summary, _project_loop(ctx))],
        chart=_chart(ctx, summary),
        data={"rounds": samples, "medians": summary},
    )


def _summarise(
    ctx: Context, row: str, by_server: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, results in by_server.items():

        def med(name: str, results: list[dict[str, Any]] = results) -> float | None:
            return median([r[name] for r in results])

        server_cores, client_cores = med("server_cores"), med("client_cores")
        out[key] = {
            "cpu_us_per_op": med("cpu_us_per_op"),
            "cpu_us_per_op_rounds": [r["cpu_us_per_op"] for r in results],
            "ops_per_s": med("ops_per_s"),
            "p50_ms": median([r["latency_ms"]["p50"] for r in results]),
            "p99_ms": median([r["latency_ms"]["p99"] for r in results]),
            "server_cores": server_cores,
            "client_cores": client_cores,
            "client_us_per_op": med("client_us_per_op"),
            "bound": bound(server_cores, client_cores),
            "cpu_sources_disagree_by": max(
                abs(r["server_stat_cpu_s"] - r["server_cpu_s"]) / r["server_cpu_s"]
                for r in results
                if r["server_cpu_s"]
            )
            if any(r["server_cpu_s"] for r in results)
            else None,
            "errors": sorted({e for r in results for e in r.get("errors", [])}),
        }
    base = out.get(BASELINE, {}).get("cpu_us_per_op")
    for values in out.values():
        values["ratio_to_bare"] = ratio(values["cpu_us_per_op"], base)
    return out


SATURATED_CORES = 0.85  # a one-threaded process this busy is waiting on its own CPU


def bound(server_cores: float | None, client_cores: float | None) -> str:
    """Which side limited the rate: one that kept its core busy; when neither did, the
    machine's other work did (both processes were waiting for a CPU)."""
    server, client = server_cores or 0.0, client_cores or 0.0
    if server >= SATURATED_CORES and client >= SATURATED_CORES:
        return "both"
    if server >= SATURATED_CORES:
        return "server"
    if client >= SATURATED_CORES:
        return "load generator"
    return "neither (CPU shared)"


def _label(ctx: Context, key: str) -> str:
    return next(spec.label for spec in ctx.servers if spec.key == key)


def _cpu_table(ctx: Context, summary: dict[str, dict[str, dict[str, Any]]]) -> Table:
    keys = [spec.key for spec in ctx.servers]
    # (numerator, denominator): the target's ratio first, then the same-loop ones.
    ratios = [
        (num, den)
        for num, den in (
            ("project", BASELINE),
            ("project-asyncio", BASELINE),
            ("project", "aiohttp-uvloop"),
        )
        if num in keys and den in keys
    ]
    headers = [
        "work",
        *(_label(ctx, k) for k in keys),
        *(f"{_label(ctx, num)} ÷ {_label(ctx, den)}" for num, den in ratios),
    ]
    rows = []
    for row, label in ROWS.items():
        cells = [f"{label} ({UNITS[row]})"]
        for key in keys:
            values = summary[row].get(key)
            cells.append(fmt(values["cpu_us_per_op"]) if values else "—")
        for i, (num, den) in enumerate(ratios):
            value = fmt_ratio(
                ratio(
                    summary[row].get(num, {}).get("cpu_us_per_op"),
                    summary[row].get(den, {}).get("cpu_us_per_op"),
                )
            )
            cells.append(f"**{value}**" if i == 0 else value)
        rows.append(cells)
    return Table(
        headers,
        rows,
        caption="Server CPU time per operation, µs (median of the rounds; lower is better)",
    )


def _detail_table(ctx: Context, summary: dict[str, dict[str, dict[str, Any]]]) -> Table:
    headers = [
        "work",
        "server",
        "CPU µs/op",
        "each round",
        "÷ bare",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "server cores",
        "load-gen cores",
        "load-gen µs/op",
        "CPU-bound",
    ]
    rows = []
    for row, label in ROWS.items():
        for spec in ctx.serving(row):
            values = summary[row].get(spec.key)
            if not values:
                continue
            rows.append(
                [
                    label,
                    spec.label,
                    fmt(values["cpu_us_per_op"]),
                    " / ".join(fmt(v) for v in values["cpu_us_per_op_rounds"]),
                    fmt_ratio(values["ratio_to_bare"]),
                    fmt(values["ops_per_s"], 0),
                    fmt(values["p50_ms"], 2),
                    fmt(values["p99_ms"], 2),
                    fmt(values["server_cores"], 2),
                    fmt(values["client_cores"], 2),
                    fmt(values["client_us_per_op"]),
                    values["bound"],
                ]
            )
    return Table(
        headers,
        rows,
        caption=(
            "Throughput, latency and who was busy (medians). Latency: WS = round trip of one "
            "message with the others in flight (mostly queueing: in flight ÷ rate); "
            "SSE = age of the newest event in each read "
            "(server `ts` to arrival, ms resolution); HTTP = wrk's request latency. Cores = "
            "CPU seconds per wall second over the measured window."
        ),
    )


def _notes(
    summary: dict[str, dict[str, dict[str, Any]]],
    rounds: dict[str, dict[str, list[dict[str, Any]]]],
) -> list[str]:
    notes = []
    disagreements = [
        v["cpu_sources_disagree_by"]
        for by_server in summary.values()
        for v in by_server.values()
        if v["cpu_sources_disagree_by"] is not None
    ]
    if disagreements:
        notes.append(
            "Independent check of the CPU figure: `/proc/PID/stat` (utime + stime, 10 ms "
            "ticks) agrees with the schedstat sum within "
            f"{max(disagreements) * 100:.1f} % on every measurement."
        )
    counts = [
        f"{ROWS[row]}: server {r['server_counted']:,}, load generator {r['total_operations']:,}"
        for row, by_server in rounds.items()
        for r in by_server.get("project", [])[-1:]
        if "server_counted" in r
    ]
    if counts:
        notes.append(
            "Independent count (the project's own `/api/stats` `messages_out`, against what "
            "the load generator received over its whole run, warm-up included; last round): "
            + "; ".join(counts)
            + ". The server's count is the higher by what was in flight when the load "
            "generator stopped (for SSE, events still in socket buffers)."
        )
    errors = {
        f"{row}/{key}": v["errors"]
        for row, by_server in summary.items()
        for key, v in by_server.items()
        if v["errors"]
    }
    if errors:
        notes.append(f"Errors reported by the load generators: {errors}")
    return notes


def _targets(ctx: Context, summary: dict[str, dict[str, dict[str, Any]]]) -> list[Target]:
    targets = []
    for row, label in ROWS.items():
        value = summary[row].get("project", {}).get("ratio_to_bare")
        targets.append(
            Target(
                f"{label}: project CPU/op ≤ 1.05{TIMES} bare aiohttp",
                fmt_ratio(value),
                None if value is None else value <= 1.05,
            )
        )
    return targets


def _project_loop(ctx: Context) -> str:
    """The event loop the project ran on, as its /api/config reports it (when it does)."""
    running = ctx.server(PROJECT)
    config = get_json(f"{running.url}/api/config")
    return str(config.get("loop", "asyncio (no --loop option)"))


def uvloop_target(
    ctx: Context, summary: dict[str, dict[str, dict[str, Any]]], loop: str
) -> Target:
    """The project on uvloop below every peer on every row. `make run` is what is measured,
    so this is judged only when the project's default loop is uvloop."""
    worst: list[str] = []
    met: bool | None = True
    for row in ROWS:
        project = summary[row].get("project", {}).get("cpu_us_per_op")
        peers = {
            key: v["cpu_us_per_op"]
            for key, v in summary[row].items()
            if key in PEERS and v["cpu_us_per_op"] is not None
        }
        if project is None or not peers:
            met = None
            continue
        cheapest = min(peers, key=lambda k: peers[k])
        worst.append(f"{row} {project / peers[cheapest]:.2f}{TIMES} {cheapest}")
        if project >= peers[cheapest]:
            met = False
    if loop != "uvloop":
        met = None
    return Target(
        "project with uvloop: CPU/op below every peer on every row",
        f"loop: {loop}; vs cheapest peer: " + ("; ".join(worst) or "—"),
        met,
    )


def _chart(ctx: Context, summary: dict[str, dict[str, dict[str, Any]]]) -> ChartPanel:
    return ChartPanel(
        title="Server CPU per operation (µs, median)",
        unit="µs",
        categories=list(ROWS.values()),
        series={
            spec.label: [summary[row].get(spec.key, {}).get("cpu_us_per_op") for row in ROWS]
            for spec in ctx.servers
        },
    )


def _intro(ctx: Context) -> str:
    p = ctx.profile
    return (
        f"Load: WS echo with {p.conns} connections {TIMES} {p.ws_inflight} messages of "
        f"{p.ws_size} B in flight; SSE `/sse/stream?interval=0&size={p.sse_size}` on "
        f"{p.conns} streams; `wrk -t1 -c{p.conns}` POSTing {p.http_size} B to `/http/echo`. "
        f"{p.rounds} round(s), each server in turn within a round; {p.warmup_s:g} s warm-up, "
        f"then {p.duration_s:g} s measured. CPU is the server's, read from "
        "`/proc/PID/task/*/schedstat` at both ends of the measured window (all threads), "
        "divided by the operations completed in it."
    )
