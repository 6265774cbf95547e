"""Server CPU per operation under the same load: WS echo, SSE stream, HTTP POST echo.

Every server serving a row gets the same load, round after round, the order reversed from one
round to the next (A B C, C B A, ...), so slow drifts of the shared machine fall on all of
them alike. The project and bare aiohttp are measured side by side, at the same time, each
with its own load generator: a burst of other work on the machine then falls on both. So,
in a batch of its own, are the project and aiohttp + uvloop, the nearest peer of the uvloop
target. Each figure in the tables is the median over the rounds; ratios are ratios of
medians. The same ratio is also taken round by round: the spread of those paired ratios says
how far this run can be trusted, and a target is called met or not met only when that spread
allows it.
"""

from __future__ import annotations

import concurrent.futures
import os
import statistics
import time
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
TARGET_RATIO = 1.05  # project ÷ bare aiohttp, CPU per operation (issue 10)
# Compared round by round with bare aiohttp.
PAIRED = ("project", "project-asyncio")
# Measured at the same time when the profile says so: the pair the targets compare. Only
# two, so that both keep up with the offered rate on one busy core.
TOGETHER = (BASELINE, "project")
# The uvloop target's nearest peer (the others cost two to four times as much): the project is
# measured beside it too, in a batch of its own, and judged round by round like the pair
# above, at the main load only (see `_uvloop_method`).
UVLOOP_BASE = "aiohttp-uvloop"
UVLOOP_PAIR = (UVLOOP_BASE, "project")
UVLOOP_RATIO = 1.0  # "lower CPU per op than every peer"


def measure(ctx: Context, row: str, spec: ServerSpec, paced: bool | None = None) -> dict[str, Any]:
    """One measurement of `row` on `spec`: the load generator's window, with derived rates.
    `paced` overrides the profile's choice of load."""
    p = ctx.profile
    paced = p.paced if paced is None else paced
    running = ctx.server(spec)
    window = [*("--warmup", str(p.warmup_s), "--duration", str(p.duration_s))]
    counted_before = _server_count(running, row) if spec.key.startswith("project") else None
    load_before = os.getloadavg()[0]
    if row == "ws":
        rate = ("--rate", str(p.ws_rate)) if paced else ()
        result = ctx.loadgen(
            "ws-echo",
            running,
            *("--conns", str(p.conns), "--inflight", str(p.ws_inflight), *rate),
            *("--size", str(p.ws_size), *window),
        )
    elif row == "sse":
        interval = str(p.sse_interval_ms if paced else 0)
        result = ctx.loadgen(
            "sse",
            running,
            *("--conns", str(p.conns), "--size", str(p.sse_size), "--interval", interval),
            *window,
        )
    else:
        delay = p.http_delay_ms if paced else 0
        warm = ctx.wrk(running, p.warmup_s, delay)  # warm-up, not in the window
        result = ctx.wrk(running, p.duration_s, delay)
        result["total_operations"] = warm["operations"] + result["operations"]
    result["load_average"] = [load_before, os.getloadavg()[0]]
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


def round_order(ctx: Context, row: str, round_no: int) -> list[ServerSpec]:
    """Who is measured in round `round_no` (from 1), in order: every server for the first
    `rounds`, then the paired ones only; the order reverses every other round."""
    p = ctx.profile
    specs = ctx.serving(row)
    if round_no > p.rounds:
        specs = [s for s in specs if s.key in (BASELINE, UVLOOP_BASE, *PAIRED)]
    return specs if round_no % 2 else specs[::-1]


def batches(ctx: Context, row: str, round_no: int) -> list[list[ServerSpec]]:
    """The servers of one round, grouped by what is measured at the same time (when the
    profile says so): the target pair together, then the project beside aiohttp + uvloop
    (the two pairs' order swapped every other round), every other server alone."""
    order = round_order(ctx, row, round_no)
    if not ctx.profile.together:
        return [[s] for s in order]
    together = [s for s in order if s.key in TOGETHER]
    uvloop = [s for s in order if s.key in UVLOOP_PAIR]
    pairs = [group for group in (together, uvloop if len(uvloop) == 2 else []) if group]
    paired = {s.key for group in pairs for s in group}
    return (pairs if round_no % 2 else pairs[::-1]) + [[s] for s in order if s.key not in paired]


def is_uvloop_batch(batch: list[ServerSpec]) -> bool:
    """Whether `batch` is the project measured beside aiohttp + uvloop."""
    return sorted(s.key for s in batch) == sorted(UVLOOP_PAIR)


def record(
    samples: dict[str, list[dict[str, Any]]],
    beside_uvloop: list[dict[str, Any]],
    batch: list[ServerSpec],
    results: list[dict[str, Any]],
    round_no: int,
) -> None:
    """File one batch's results under their server; the project's from its batch beside
    aiohttp + uvloop apart (`beside_uvloop`), so that each ratio pairs the project with the
    server it shared the window with."""
    for spec, result in zip(batch, results, strict=True):
        result["round"] = round_no
        if spec.key == "project" and is_uvloop_batch(batch):
            beside_uvloop.append(result)
        else:
            samples.setdefault(spec.key, []).append(result)


def uvloop_rounds(
    samples: dict[str, list[dict[str, Any]]], beside_uvloop: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """The uvloop pair's rounds: the project's from beside aiohttp + uvloop (or, measured one
    at a time, its only ones) with aiohttp + uvloop's."""
    rounds = {
        "project": beside_uvloop or samples.get("project", []),
        UVLOOP_BASE: samples.get(UVLOOP_BASE, []),
    }
    return {key: results for key, results in rounds.items() if results}


def measure_together(
    ctx: Context, row: str, specs: list[ServerSpec], paced: bool | None = None
) -> list[dict[str, Any]]:
    """`measure` on every server in `specs` at the same time, each with its own load
    generator: whatever else the machine does in that window, it does to all of them."""
    for spec in specs:
        ctx.server(spec)  # started before the threads, one at a time
    with concurrent.futures.ThreadPoolExecutor(len(specs)) as pool:
        return list(pool.map(lambda spec: measure(ctx, row, spec, paced), specs))


def _servers_of_round(ctx: Context, round_no: int) -> list[ServerSpec]:
    """Every server measured in round `round_no`, on any row, once each."""
    specs = {spec.key: spec for row in ROWS for spec in round_order(ctx, row, round_no)}
    return list(specs.values())


def load_name(paced: bool) -> str:
    return "paced" if paced else "flat out"


def other_load_pass(ctx: Context) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The target pair side by side once more, round after round, at the other load (paced
    when the main rounds were flat out, and the other way round): the CPU targets must hold
    at both."""
    p = ctx.profile
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {row: {} for row in ROWS}
    for round_no in range(1, p.other_load_rounds + 1):
        together = [s for s in _servers_of_round(ctx, round_no) if s.key in TOGETHER]
        with ctx.afresh(together):  # new processes every round, as in `run`
            for row in ROWS:
                pair = [s for s in round_order(ctx, row, round_no) if s.key in TOGETHER]
                if len(pair) < 2:
                    continue
                results = measure_together(ctx, row, pair, not p.paced)
                for spec, result in zip(pair, results, strict=True):
                    result["round"] = round_no
                    samples[row].setdefault(spec.key, []).append(result)
                ctx.progress(
                    f"{row} {load_name(not p.paced)} round {round_no}/{p.other_load_rounds} done"
                )
    return samples


def run(ctx: Context) -> Section:
    p = ctx.profile
    total = max(p.rounds, p.paired_rounds)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {row: {} for row in ROWS}
    beside_uvloop: dict[str, list[dict[str, Any]]] = {row: [] for row in ROWS}
    for round_no in range(1, total + 1):
        # New processes every round: what one process happens to get (memory layout, hash
        # seeds) moved a server's CPU per operation by up to 4 % for a whole run.
        with ctx.afresh(_servers_of_round(ctx, round_no)):
            for row in ROWS:
                for batch in batches(ctx, row, round_no):
                    results = measure_together(ctx, row, batch)
                    record(samples[row], beside_uvloop[row], batch, results, round_no)
                    for spec, result in zip(batch, results, strict=True):
                        ctx.progress(
                            f"{row} round {round_no}/{total} {spec.label}: "
                            f"{fmt(result['cpu_us_per_op'])} {UNITS[row]}, "
                            f"{fmt(result['ops_per_s'], 0)}/s"
                            + (f" (beside {_partner(batch, spec)})" if len(batch) > 1 else "")
                        )
    summary = {row: _summarise(ctx, row, by_server) for row, by_server in samples.items()}
    uvloop_summary = {
        row: _summarise(
            ctx, row, uvloop_rounds(samples[row], beside_uvloop[row]), UVLOOP_BASE, ("project",)
        )
        for row in ROWS
    }
    other_started = time.monotonic()
    flat = other_load_pass(ctx)
    other_load_s = time.monotonic() - other_started
    flat_summary = {row: _summarise(ctx, row, by_server) for row, by_server in flat.items()}
    return Section(
        key="throughput",
        title=TITLE,
        intro=_intro(ctx),
        tables=[
            _cpu_table(ctx, summary),
            _paired_table(ctx, summary),
            *_uvloop_table(ctx, uvloop_summary),
            *_other_load_table(ctx, flat_summary),
            _detail_table(ctx, summary),
        ],
        notes=_notes(ctx, summary, samples, uvloop_summary, other_load_s),
        targets=[
            *_targets(ctx, summary, flat_summary),
            *uvloop_targets(ctx, summary, uvloop_summary, _project_loop(ctx)),
        ],
        chart=_chart(ctx, summary),
        data={
            "rounds": samples,
            "medians": summary,
            "offered": offered(ctx),
            "uvloop_pair": {
                "base": UVLOOP_BASE,
                "load": load_name(p.paced),
                "project_rounds": beside_uvloop,
                "medians": uvloop_summary,
            },
            "other_load": {
                "load": load_name(not p.paced),
                "elapsed_s": other_load_s,
                "rounds": flat,
                "medians": flat_summary,
            },
        },
    )


def _partner(batch: list[ServerSpec], spec: ServerSpec) -> str:
    return next(s.label for s in batch if s is not spec)


def offered(ctx: Context) -> dict[str, float | None]:
    """The offered load per row, operations a second (None: flat out). HTTP's is a ceiling:
    each wrk connection pauses before each request, so a slower answer lowers its rate."""
    p = ctx.profile
    if not p.paced:
        return dict.fromkeys(ROWS)
    return {
        "ws": float(p.ws_rate),
        "sse": p.conns * 1000 / p.sse_interval_ms,
        "http": p.conns * 1000 / p.http_delay_ms,
    }


def paired_ratios(
    by_server: dict[str, list[dict[str, Any]]], key: str, base_key: str = BASELINE
) -> list[float]:
    """`key` ÷ `base_key` (bare aiohttp), CPU per operation, round by round (rounds where
    both ran)."""
    base = {r["round"]: r["cpu_us_per_op"] for r in by_server.get(base_key, [])}
    return [
        r["cpu_us_per_op"] / base[r["round"]]
        for r in by_server.get(key, [])
        if r["cpu_us_per_op"] and base.get(r["round"])
    ]


def spread(values: list[float]) -> dict[str, float] | None:
    """min, quartiles and max of the paired ratios (None when there are none). With fewer
    than four the quartiles are the extremes: too few rounds to discard any."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) < 4:
        low, high = ordered[0], ordered[-1]
    else:
        low, _, high = statistics.quantiles(ordered, n=4, method="inclusive")
    return {"min": ordered[0], "q1": low, "q3": high, "max": ordered[-1], "n": len(ordered)}


def span(low: float, high: float) -> str:
    """A range of ratios as the tables show it."""
    return f"{low:.2f} to {high:.2f}{TIMES}"


def verdict(
    headline: float | None, ratios: dict[str, float] | None, target: float = TARGET_RATIO
) -> tuple[bool | None, bool]:
    """(met, within noise) for a ratio target: met when the ratio of medians and the upper
    quartile of the paired ratios are both at or below it, not met when the ratio of medians
    and the lower quartile are both above it, otherwise within noise."""
    if headline is None or ratios is None:
        return None, False
    if headline <= target and ratios["q3"] <= target:
        return True, False
    if headline > target and ratios["q1"] > target:
        return False, False
    return None, True


def _summarise(
    ctx: Context,
    row: str,
    by_server: dict[str, list[dict[str, Any]]],
    base_key: str = BASELINE,
    paired: tuple[str, ...] = PAIRED,
) -> dict[str, dict[str, Any]]:
    """Medians per server, each one's ratio to `base_key`, and for the `paired` servers the
    same ratio round by round with its spread."""
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
    base = out.get(base_key, {}).get("cpu_us_per_op")
    for key, values in out.items():
        values["ratio_to_base"] = ratio(values["cpu_us_per_op"], base)
        if key in paired:
            values["paired_ratios"] = paired_ratios(by_server, key, base_key)
            values["paired_spread"] = spread(values["paired_ratios"])
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
    # (numerator, denominator): the target's ratio first, then the same-loop one. Project ÷
    # aiohttp + uvloop is not here: its ratio comes from the rounds the two shared (below),
    # not from this table's project column, measured beside bare aiohttp.
    ratios = [
        (num, den)
        for num, den in (("project", BASELINE), ("project-asyncio", BASELINE))
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
        caption=(
            "Server CPU time per operation, µs (median of the rounds; lower is better). "
            + _conditions(ctx)
        ),
    )


def _conditions(ctx: Context) -> str:
    """Which servers shared CPU 0 with the project while measured, and which had it alone."""
    if not ctx.profile.together:
        return "Each server measured alone, one after the other."
    return (
        "Bare aiohttp and aiohttp + uvloop were each measured at the same time as the project "
        "(in separate batches; the project's column is from its batches beside bare "
        "aiohttp), the other servers one at a time with the servers' CPU to themselves."
    )


def _verdict_word(met: bool | None, noise: bool) -> str:
    return "within noise" if noise else {True: "met", False: "not met", None: "—"}[met]


def _load_words(ctx: Context, paced: bool) -> str:
    p = ctx.profile
    if paced:
        return (
            f"paced (WS {p.ws_rate:,} messages/s, SSE `interval={p.sse_interval_ms}`, wrk "
            f"pausing {p.http_delay_ms} ms per request)"
        )
    return (
        f"flat out ({p.conns} WS connections {TIMES} {p.ws_inflight} in flight, SSE "
        "`interval=0`, wrk without pauses)"
    )


def _pair_table(
    ctx: Context,
    summary: dict[str, dict[str, dict[str, Any]]],
    base_key: str,
    target: float,
    caption: str,
) -> list[Table]:
    """A pair measured side by side: the project's and `base_key`'s CPU per operation, the
    ratio of medians, its spread round by round and its verdict against `target`."""
    rows = []
    for row, label in ROWS.items():
        project, base = summary[row].get("project"), summary[row].get(base_key)
        if not project or not base or not project.get("paired_spread"):
            continue
        ratios = project["paired_spread"]
        met, noise = verdict(project["ratio_to_base"], ratios, target)
        rows.append(
            [
                label,
                fmt(project["cpu_us_per_op"]),
                fmt(base["cpu_us_per_op"]),
                fmt_ratio(project["ratio_to_base"]),
                " / ".join(f"{v:.2f}" for v in project["paired_ratios"]),
                span(ratios["q1"], ratios["q3"]),
                fmt(project["ops_per_s"], 0),
                fmt(base["ops_per_s"], 0),
                _verdict_word(met, noise),
            ]
        )
    if not rows:
        return []
    name = _label(ctx, base_key)
    headers = [
        "work",
        "project µs/op",
        f"{name} µs/op",
        f"project ÷ {name}",
        "each round",
        "middle half",
        "project ops/s",
        f"{name} ops/s",
        f"verdict (≤ {target:.2f}{TIMES})",
    ]
    return [Table(headers, rows, caption=caption)]


def _other_load_table(
    ctx: Context, flat_summary: dict[str, dict[str, dict[str, Any]]]
) -> list[Table]:
    """The pair at the other load: ratio of medians, its spread and its verdict."""
    p = ctx.profile
    return _pair_table(
        ctx,
        flat_summary,
        BASELINE,
        TARGET_RATIO,
        caption=(
            f"The same pair side by side at the other load, {_load_words(ctx, not p.paced)}, "
            f"{p.other_load_rounds} round(s). Flat out, each wake-up serves many messages, "
            "so that ratio weighs the per-message code most; paced, each wake-up serves "
            "one, so the per-wake-up cost weighs more. A target is met only when met at "
            "both loads"
        ),
    )


def _uvloop_table(
    ctx: Context, uvloop_summary: dict[str, dict[str, dict[str, Any]]]
) -> list[Table]:
    """The uvloop target's paired row: the project beside aiohttp + uvloop."""
    p = ctx.profile
    own = (
        " (the project's figures here are from these batches, not from those beside bare aiohttp)"
        if p.together
        else ""
    )
    return _pair_table(
        ctx,
        uvloop_summary,
        UVLOOP_BASE,
        UVLOOP_RATIO,
        caption=(
            "The uvloop target's nearest peer, paired: the project (make run) and aiohttp + "
            f"uvloop measured {_pairing(ctx)} in each round, {load_name(p.paced)}, "
            f"{max(p.rounds, p.paired_rounds)} round(s){own}. The project must cost less "
            f"than aiohttp + uvloop: the verdict is the {TARGET_RATIO:.2f}{TIMES} target's "
            f"rule at {UVLOOP_RATIO:.2f}{TIMES}"
        ),
    )


def _detail_table(ctx: Context, summary: dict[str, dict[str, dict[str, Any]]]) -> Table:
    headers = [
        "work",
        "server",
        "CPU µs/op",
        "each round",
        "÷ bare",
        "ops/s",
        "offered/s",
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
                    fmt_ratio(values["ratio_to_base"]),
                    fmt(values["ops_per_s"], 0),
                    fmt(offered(ctx)[row], 0),
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
            "CPU seconds per wall second over the measured window. Offered: the paced rate "
            "(for HTTP a ceiling); ops/s below it means the server or the machine fell behind."
        ),
    )


def _notes(
    ctx: Context,
    summary: dict[str, dict[str, dict[str, Any]]],
    rounds: dict[str, dict[str, list[dict[str, Any]]]],
    uvloop_summary: dict[str, dict[str, dict[str, Any]]],
    other_load_s: float,
) -> list[str]:
    notes = [_noise_note(ctx, summary, rounds, uvloop_summary), _uvloop_method(ctx, other_load_s)]
    disagreements = [
        v["cpu_sources_disagree_by"]
        for medians in (summary, uvloop_summary)
        for by_server in medians.values()
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


def _pairing(ctx: Context) -> str:
    return "at the same time" if ctx.profile.together else "back to back"


def _moved(summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    """How far the project's paired ratios moved, row by row."""
    moved = []
    for row, label in ROWS.items():
        ratios = summary[row].get("project", {}).get("paired_spread")
        if ratios:
            moved.append(
                f"{label} {ratios['min']:.2f} to {ratios['max']:.2f} "
                f"(middle half {ratios['q1']:.2f} to {ratios['q3']:.2f}, {ratios['n']} rounds)"
            )
    return "; ".join(moved) if moved else "(not measured)"


def _noise_note(
    ctx: Context,
    summary: dict[str, dict[str, dict[str, Any]]],
    rounds: dict[str, dict[str, list[dict[str, Any]]]],
    uvloop_summary: dict[str, dict[str, dict[str, Any]]],
) -> str:
    """How much this run's paired ratios moved, and what that lets a verdict say."""
    loads = [
        value
        for by_server in rounds.values()
        for results in by_server.values()
        for r in results
        for value in r.get("load_average", [])
    ]
    busiest = (
        f" The 1-minute load average ran from {min(loads):.1f} to {max(loads):.1f}."
        if loads
        else ""
    )
    return (
        "**How far to trust the CPU ratios.** The machine is shared, so a server's CPU per "
        "operation moves with what else runs (caches, clock speed, waiting for a core): two "
        "runs of the same commit can differ by tens of percent in absolute terms. What this "
        "run can resolve is read from the ratio measured round by round, the project and "
        f"bare aiohttp measured {_pairing(ctx)}: project ÷ bare aiohttp moved "
        + _moved(summary)
        + f"; project ÷ aiohttp + uvloop, measured {_pairing(ctx)} likewise, moved "
        + _moved(uvloop_summary)
        + f".{busiest} At each load, a target is called **met** when the ratio of medians "
        f"and the upper quartile of the per-round ratios are both at or below "
        f"{TARGET_RATIO:.2f}{TIMES}, **not met** when the ratio of medians and the lower "
        "quartile are both above it, and **within noise** otherwise: then this run cannot "
        "tell, and a run on a quieter machine (or with more `--paired-rounds`) can. The "
        "target's verdict is met only when met flat out and at the paced load alike."
    )


def _uvloop_method(ctx: Context, other_load_s: float) -> str:
    """How the uvloop target is judged, and why its pair runs at one load only
    (`other_load_s`: how long bare aiohttp's pair took at the other load in this run)."""
    p = ctx.profile
    alone = [spec.label for spec in ctx.servers if spec.key in PEERS and spec.key != UVLOOP_BASE]
    return (
        "**How the uvloop target is judged.** Row by row, against every peer. Against "
        f"aiohttp + uvloop, the nearest, it rests on a **paired** measurement: the project "
        f"and aiohttp + uvloop measured {_pairing(ctx)}, in a batch of their own, in each of "
        f"the {max(p.rounds, p.paired_rounds)} rounds (the project so runs twice a round, "
        "once beside each aiohttp, and each ratio uses its figure from the batch it shared), "
        f"judged by the rule above with {UVLOOP_RATIO:.2f}{TIMES} in place of "
        f"{TARGET_RATIO:.2f}{TIMES}. That pair runs at the main load only "
        f"({load_name(p.paced)}), not at the other too as the {TARGET_RATIO:.2f}{TIMES} "
        "target's pair does: the issue states the uvloop target at one load, every other peer "
        "is measured at that load only, and a second pass would cost as long again as bare "
        f"aiohttp's pair took at the other load in this run ({other_load_s:.0f} s), in a run "
        "that must stay within 10 minutes on this shared machine. "
        + (
            f"Against {' and '.join(alone)} (two to four times the project's CPU per "
            "operation in recent runs) it rests on a **one-at-a-time** measurement: each ran "
            "alone, with the servers' CPU to itself, while the project's figure is from its "
            "batches beside bare aiohttp, so that ratio mixes the two conditions and has no "
            "per-round spread; it is called on the ratio of medians alone and is only as firm "
            "as its margin. "
            if alone
            else ""
        )
        + "Each row of the target says which peer rests on which."
    )


def _targets(
    ctx: Context,
    summary: dict[str, dict[str, dict[str, Any]]],
    flat_summary: dict[str, dict[str, dict[str, Any]]],
) -> list[Target]:
    """One CPU target per row, judged at the main load and, when it ran, at the other too:
    met only when met at both, not met when missed at either."""
    targets = []
    for row, label in ROWS.items():
        judged = [(load_name(ctx.profile.paced), summary[row].get("project"))]
        if flat_summary[row].get("project"):
            judged.append((load_name(not ctx.profile.paced), flat_summary[row]["project"]))
        verdicts = []
        measured = []
        for load, values in judged:
            ratios = (values or {}).get("paired_spread")
            value = (values or {}).get("ratio_to_base")
            verdicts.append(verdict(value, ratios))
            measured.append(
                f"{load} {fmt_ratio(value)}"
                + (f" (middle half {span(ratios['q1'], ratios['q3'])})" if ratios else "")
            )
        met, noise = combined(verdicts)
        targets.append(
            Target(
                f"{label}: project CPU/op ≤ {TARGET_RATIO:.2f}{TIMES} bare aiohttp",
                "; ".join(measured),
                met,
                within_noise=noise,
            )
        )
    return targets


def combined(verdicts: list[tuple[bool | None, bool]]) -> tuple[bool | None, bool]:
    """Verdicts at several loads as one: not met if missed at any, met if met at all, within
    noise if any was and none missed, else not measured."""
    if any(met is False for met, _ in verdicts):
        return False, False
    if verdicts and all(met is True for met, _ in verdicts):
        return True, False
    return None, any(noise for _, noise in verdicts)


def _paired_table(ctx: Context, summary: dict[str, dict[str, dict[str, Any]]]) -> Table:
    headers = [
        "work",
        "compared",
        "ratio of medians",
        "each round",
        "middle half",
        "all rounds",
        f"verdict (≤ {TARGET_RATIO:.2f}{TIMES})",
    ]
    rows = []
    for row, label in ROWS.items():
        for key in PAIRED:
            values = summary[row].get(key)
            if not values or not values.get("paired_spread"):
                continue
            ratios = values["paired_spread"]
            met, noise = verdict(values["ratio_to_base"], ratios)
            rows.append(
                [
                    label,
                    f"{_label(ctx, key)} ÷ bare aiohttp",
                    fmt_ratio(values["ratio_to_base"]),
                    " / ".join(f"{v:.2f}" for v in values["paired_ratios"]),
                    span(ratios["q1"], ratios["q3"]),
                    span(ratios["min"], ratios["max"]),
                    _verdict_word(met, noise),
                ]
            )
    return Table(
        headers,
        rows,
        caption=(
            f"The same ratio round by round (the project and bare aiohttp measured "
            f"{_pairing(ctx)} in each round, the project with `--loop asyncio` just before or "
            "after), and how far it moved: the middle half is the interquartile range"
        ),
    )


def _project_loop(ctx: Context) -> str:
    """The event loop the project ran on, as its /api/config reports it (when it does)."""
    running = ctx.server(PROJECT)
    config = get_json(f"{running.url}/api/config")
    return str(config.get("loop", "asyncio (no --loop option)"))


def uvloop_targets(
    ctx: Context,
    summary: dict[str, dict[str, dict[str, Any]]],
    uvloop_summary: dict[str, dict[str, dict[str, Any]]],
    loop: str,
) -> list[Target]:
    """The project on uvloop below every peer, one target per row. `make run` is what is
    measured, so this is judged only when the project's default loop is uvloop."""
    targets = []
    for row, label in ROWS.items():
        judged = [_against_peer(ctx, row, key, summary, uvloop_summary) for key in PEERS]
        present = [j for j in judged if j is not None]
        met, noise = combined([v for v, _ in present]) if present else (None, False)
        measured = "; ".join(words for _, words in present) or "—"
        if loop != "uvloop":
            met, noise = None, False
            measured = f"not judged: the project ran on {loop}; {measured}"
        targets.append(
            Target(
                f"{label}: project with uvloop CPU/op below every peer",
                measured,
                met,
                within_noise=noise,
            )
        )
    return targets


def _against_peer(
    ctx: Context,
    row: str,
    key: str,
    summary: dict[str, dict[str, dict[str, Any]]],
    uvloop_summary: dict[str, dict[str, dict[str, Any]]],
) -> tuple[tuple[bool | None, bool], str] | None:
    """(verdict, what was measured) of the project against the peer `key` on `row`: paired
    for aiohttp + uvloop, one at a time for the others (None: the peer does not serve it)."""
    if key == UVLOOP_BASE:
        project = uvloop_summary[row].get("project", {})
        value, ratios = project.get("ratio_to_base"), project.get("paired_spread")
        if key not in uvloop_summary[row] or value is None:
            return None
        how = f"paired, middle half {span(ratios['q1'], ratios['q3'])}" if ratios else "paired"
    else:
        peer = summary[row].get(key, {}).get("cpu_us_per_op")
        if peer is None:
            return None
        value = ratio(summary[row].get("project", {}).get("cpu_us_per_op"), peer)
        # One ratio of medians, no rounds to pair: its "spread" is the value itself.
        ratios = spread([value]) if value is not None else None
        how = "one at a time"
    result = verdict(value, ratios, UVLOOP_RATIO)
    return result, f"{_label(ctx, key)} {fmt_ratio(value)} ({how})"


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
    if p.paced:
        load = (
            f"Load, the same fixed offered rate for every server: WS echo of {p.ws_size} B "
            f"messages at {p.ws_rate:,}/s spread over {p.conns} connections (at most "
            f"{p.ws_inflight} unanswered on each); SSE "
            f"`/sse/stream?interval={p.sse_interval_ms}&size={p.sse_size}` on {p.conns} "
            f"streams ({p.conns * 1000 // p.sse_interval_ms:,} events/s); "
            f"`wrk -t1 -c{p.conns}` POSTing {p.http_size} B to `/http/echo`, each connection "
            f"pausing {p.http_delay_ms} ms before each request "
            f"(at most {p.conns * 1000 // p.http_delay_ms:,} requests/s). "
        )
    else:
        load = (
            f"Load, flat out: WS echo with {p.conns} connections {TIMES} "
            f"{p.ws_inflight} messages of {p.ws_size} B in flight; SSE "
            f"`/sse/stream?interval=0&size={p.sse_size}` on {p.conns} streams; "
            f"`wrk -t1 -c{p.conns}` POSTing {p.http_size} B to `/http/echo`. "
        )
    rounds = (
        f"{p.rounds} round(s) of every server, then only those compared round by round (the "
        "project, bare aiohttp, aiohttp + uvloop, the project with `--loop asyncio`) up to "
        f"{max(p.rounds, p.paired_rounds)} rounds; "
        if p.paired_rounds > p.rounds
        else f"{p.rounds} round(s); "
    )
    order = (
        "within a round the project and bare aiohttp side by side (at the same time, each "
        "with its own load generator), then the project and aiohttp + uvloop side by side "
        "(those two batches swapped every other round), the other servers in turn, "
        if p.together
        else "within a round each server in turn, "
    )
    return (
        load + rounds + order + "the order reversed every other round; every server "
        "started afresh for each round (a process's own luck, its memory layout and hash "
        "seeds, moved its CPU per operation by up to 4 % for as long as it ran); "
        f"{p.warmup_s:g} s warm-up, then {p.duration_s:g} s measured. CPU is the server's, "
        "read from `/proc/PID/task/*/schedstat` at both ends of the measured window (all "
        "threads), divided by the operations completed in it."
    )
