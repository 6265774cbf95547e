"""10,000 idle connections held and released (project only): 5,000 WebSockets and 5,000
SSE streams from one load-generator process.

This process raises its own open-file limit first (the load generator and the server inherit
it; the server also raises its own), and the server runs with its connection limits off
(`--max-connections 0 --max-connections-per-ip 0`), as for every run here. Held means every
handshake answered (101, or 200 and the stream's response head) and the server's own count
(`live_connections` in `/api/stats`) equal to the number held; released means that count back
to 0 after the load generator closes them, and the server still answering.
"""

from __future__ import annotations

import time

from benchmarks import procfs
from benchmarks.harness import Context, Section, Table, Target, fmt, get_json, settled_rss
from benchmarks.servers import PROJECT

TITLE = "10,000 idle connections"
RELEASE_TIMEOUT_S = 60.0


def _live(url: str) -> int:
    return int(get_json(f"{url}/api/stats").get("live_connections", -1))


def run(ctx: Context) -> Section:
    total = ctx.profile.hold
    ws, sse = total // 2, total - total // 2
    limit = procfs.raise_open_file_limit(total + 1024)
    ctx.progress(f"holding {ws} WS + {sse} SSE (open-file limit {limit})")
    with ctx.fresh(PROJECT) as running:
        rest = settled_rss(running.pid)
        with ctx.holding(running, ws, sse) as held:
            rss_held = settled_rss(running.pid)
            live_held = _live(running.url)
            ctx.progress(
                f"held {held['ws']} WS + {held['sse']} SSE in {held['open_s']} s; "
                f"server counts {live_held}"
            )
        started = time.monotonic()
        live_after = live_held
        while time.monotonic() - started < RELEASE_TIMEOUT_S:
            live_after = _live(running.url)
            if live_after == 0:
                break
            time.sleep(0.2)  # polling the server's own count, which cannot notify us
        release_s = time.monotonic() - started
        healthy = get_json(f"{running.url}/api/stats") is not None
        rss_after = procfs.rss_kib(running.pid)
    opened = held["ws"] + held["sse"]
    released = held.get("released", {})
    ok_held = opened == total and live_held == total
    ok_released = live_after == 0 and healthy
    ctx.progress(f"released: server counts {live_after} after {release_s:.1f} s")
    table = Table(
        [
            "asked",
            "held",
            "server's count",
            "open s",
            "RSS at rest MiB",
            "RSS held MiB",
            "KiB/conn",
            "dropped while held",
            "server's count after release",
            "RSS after MiB",
        ],
        [
            [
                f"{ws} WS + {sse} SSE",
                str(opened),
                str(live_held),
                fmt(held["open_s"], 1),
                fmt(rest / 1024),
                fmt(rss_held / 1024),
                fmt((rss_held - rest) / opened if opened else None),
                str(released.get("dropped_while_held", "—")),
                f"{live_after} (after {release_s:.1f} s)",
                fmt(rss_after / 1024),
            ]
        ],
    )
    return Section(
        key="hold",
        title=f"{total:,} idle connections",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=[table],
        notes=[f"Errors while opening: {held['errors']}"] if held["error_count"] else [],
        targets=[
            Target(
                f"{total:,} idle connections held and released",
                f"held {opened:,} (server: {live_held:,}); after release: {live_after}",
                ok_held and ok_released,
            )
        ],
        data={
            "held": held,
            "live_held": live_held,
            "live_after": live_after,
            "release_s": release_s,
            "rss_kib": [rest, rss_held, rss_after],
        },
    )
