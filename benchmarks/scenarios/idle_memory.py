"""Server memory per idle connection: 1,000 WebSockets, then 1,000 SSE streams, held.

Each server is started afresh for this (Python rarely gives freed memory back, so a second
batch on the same process would measure reuse, not cost); repeated fresh runs agreed within
0.1 KiB per connection, so one run per server is the default (`--memory-rounds` for more).
A few connections are opened and closed first, so that lazily imported code and first-use
caches are not charged to the connections. Then: RSS at rest; N idle WebSockets
(`/ws/echo`, nothing sent) held by one load-generator process, RSS once settled; N SSE
streams (`/sse/stream?interval=60000`, one tick a minute) held by another, RSS once settled.
Per connection = the RSS step ÷ N.
The project is also measured with `--tls` (a certificate made at start-up in a scratch
folder): the cost of an idle TLS connection.
"""

from __future__ import annotations

import contextlib
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
    median,
    ratio,
    settled_rss,
)
from benchmarks.servers import BARE_UVLOOP, PROJECT, PROJECT_ASYNCIO, ServerSpec

TITLE = "Memory per idle connection"
BASELINE = "aiohttp"
TLS_KEY = "project-tls"
WARM_UP_CONNECTIONS = 10


def measure(ctx: Context, spec: ServerSpec, *extra: str) -> dict[str, Any]:
    n = ctx.profile.idle
    with ctx.fresh(spec, *extra) as running:
        sse = n if "sse" in spec.protocols else 0
        warm = WARM_UP_CONNECTIONS
        with ctx.holding(running, warm, warm if sse else 0):
            pass
        rest = settled_rss(running.pid)
        with ctx.holding(running, n, 0) as ws_held:
            with_ws = settled_rss(running.pid)
            sse_held: dict[str, Any] = {"sse": 0, "error_count": 0}
            with contextlib.ExitStack() as stack:
                if sse:
                    sse_held = stack.enter_context(ctx.holding(running, 0, sse))
                with_sse = settled_rss(running.pid)
    ws_count, sse_count = ws_held["ws"], sse_held["sse"]
    return {
        "rss_rest_kib": rest,
        "rss_ws_kib": with_ws,
        "rss_ws_sse_kib": with_sse,
        "ws": ws_count,
        "sse": sse_count,
        "errors": ws_held["error_count"] + sse_held["error_count"],
        "ws_kib": (with_ws - rest) / ws_count if ws_count else None,
        "sse_kib": (with_sse - with_ws) / sse_count if sse_count else None,
    }


def run(ctx: Context) -> Section:
    p = ctx.profile
    contenders: list[tuple[str, ServerSpec, tuple[str, ...]]] = [
        (spec.key, spec, ()) for spec in ctx.servers if spec.idle_memory
    ]
    if any(spec.key == PROJECT.key for spec in ctx.servers):
        tls_dir = ctx.scratch / "tls"
        contenders.append((TLS_KEY, PROJECT, ("--tls", "--cert-dir", str(tls_dir))))
    samples: dict[str, list[dict[str, Any]]] = {}
    for round_no in range(1, p.memory_rounds + 1):
        for key, spec, extra in contenders:
            result = measure(ctx, spec, *extra)
            samples.setdefault(key, []).append(result)
            ctx.progress(
                f"idle memory round {round_no}/{p.memory_rounds} {key}: "
                f"{fmt(result['ws_kib'])} KiB/WS, {fmt(result['sse_kib'])} KiB/SSE"
            )
    summary = {
        key: {
            "ws_kib": median([r["ws_kib"] for r in results]),
            "sse_kib": median([r["sse_kib"] for r in results]),
            "rss_rest_kib": median([r["rss_rest_kib"] for r in results]),
            "held": f"{min(r['ws'] for r in results)} + {min(r['sse'] for r in results)}",
            "errors": sum(r["errors"] for r in results),
        }
        for key, results in samples.items()
    }
    base = summary.get(BASELINE, {})
    for values in summary.values():
        values["ws_ratio"] = ratio(values["ws_kib"], base.get("ws_kib"))
        values["sse_ratio"] = ratio(values["sse_kib"], base.get("sse_kib"))
    labels = {key: spec.label for key, spec, _ in contenders}
    labels[TLS_KEY] = "project --tls"
    rows = [
        [
            labels[key],
            v["held"],
            fmt(v["rss_rest_kib"] / 1024),
            fmt(v["ws_kib"]),
            fmt_ratio(v["ws_ratio"]),
            fmt(v["sse_kib"]),
            fmt_ratio(v["sse_ratio"]),
        ]
        for key, v in summary.items()
    ]
    table = Table(
        [
            "server",
            "WS + SSE held",
            "RSS at rest MiB",
            "KiB per WS",
            "÷ bare",
            "KiB per SSE",
            "÷ bare",
        ],
        rows,
        caption=(
            f"Server RSS per idle connection, {p.idle} of each held "
            f"(median of {p.memory_rounds} fresh process(es) per server)"
        ),
    )
    project = summary.get(PROJECT.key, {})
    targets = [
        Target(
            f"idle {name}: project memory ≤ 1.2{TIMES} bare aiohttp",
            fmt_ratio(project.get(field)),
            None if project.get(field) is None else project[field] <= 1.2,
        )
        for name, field in (("WebSocket", "ws_ratio"), ("SSE stream", "sse_ratio"))
    ]
    notes = []
    if TLS_KEY in summary and project.get("ws_kib"):
        tls = summary[TLS_KEY]
        notes.append(
            f"An idle TLS connection costs the project {fmt(tls['ws_kib'])} KiB (WS) and "
            f"{fmt(tls['sse_kib'])} KiB (SSE), against {fmt(project['ws_kib'])} and "
            f"{fmt(project['sse_kib'])} KiB without TLS."
        )
    like_for_like = _like_for_like(summary)
    if like_for_like:
        notes.append(like_for_like)
    if any(v["errors"] for v in summary.values()):
        notes.append(
            "Some connections could not be opened: "
            + ", ".join(f"{k}: {v['errors']}" for k, v in summary.items() if v["errors"])
        )
    chart_keys = [key for key, _, _ in contenders]
    return Section(
        key="idle_memory",
        title=TITLE,
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=[table],
        notes=notes,
        targets=targets,
        chart=ChartPanel(
            title=f"Server RSS per idle connection (KiB, {p.idle} held)",
            unit="KiB",
            categories=["WebSocket", "SSE stream"],
            series={
                labels[key]: [summary[key]["ws_kib"], summary[key]["sse_kib"]]
                for key in chart_keys
            },
        ),
        data={"rounds": samples, "medians": summary},
    )


def _like_for_like(summary: dict[str, dict[str, Any]]) -> str:
    """The project against bare aiohttp on the same event loop. The target compares the
    project at its default settings (uvloop) with bare aiohttp at its own (asyncio), so
    its ratio also holds what uvloop itself costs per connection."""
    pairs = [
        (PROJECT_ASYNCIO.key, BASELINE, "the project with `--loop asyncio` ÷ bare aiohttp"),
        (PROJECT.key, BARE_UVLOOP.key, "the project (make run) ÷ aiohttp + uvloop"),
    ]
    parts = []
    for mine, theirs, label in pairs:
        a, b = summary.get(mine), summary.get(theirs)
        if not a or not b:
            continue
        ws = ratio(a["ws_kib"], b["ws_kib"])
        sse = ratio(a["sse_kib"], b["sse_kib"])
        parts.append(f"{label}: {fmt_ratio(ws)} per WS, {fmt_ratio(sse)} per SSE stream")
    if not parts:
        return ""
    return (
        "On the same event loop (the target's ratio above also holds what uvloop itself "
        "costs per connection): " + "; ".join(parts) + "."
    )
