"""benchmarks/load.py, small: a few WebSockets and SSE streams for a few seconds, nothing lost.

The full run (1000 + 1000 connections for a minute) is not a test; its results are in
docs/performance.md.
"""

import json
from pathlib import Path

import pytest

from tests.benchmarks.running import run_script


@pytest.mark.slow
def test_smoke_run_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    run_script(
        *("benchmarks/load.py", "--connections", "50", "--duration", "3"),
        *("--interval-ms", "200", "--json", str(out)),
        timeout=90,
    )
    report = json.loads(out.read_text())
    for protocol in ("websocket", "sse"):
        tally = report[protocol]
        assert (tally["connections"], tally["failed"], tally["lost"], tally["behind"]) == (
            (50, 0, 0, 0)
        )
        assert tally["received"] >= 50 * 3 * 5 - 100  # five a second each, for three seconds
        assert tally["latency_ms"]["p50"] > 0
    assert report["memory_kib"]["per_websocket"] > 0
    assert report["server_stats"]["refused"] == {}
