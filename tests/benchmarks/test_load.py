"""benchmarks/load.py, small: a few WebSockets and SSE streams for a few seconds, nothing lost.

The full run (1000 + 1000 connections for a minute) is not a test; its results are in
docs/performance.md.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = subprocess.run(
        [
            *(sys.executable, "benchmarks/load.py", "--connections", "50", "--duration", "3"),
            *("--interval-ms", "200", "--json", str(out)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
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
