"""`make bench`, tiny: `python -m benchmarks --smoke` runs every scenario against real servers
and writes a well-formed report. No number is judged here (a smoke run's numbers mean
nothing); the shape is: every section, every target with a verdict, a PNG, the JSON."""

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.scenarios import SCENARIOS
from tests.benchmarks.running import run_script

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (scripts/system-deps.sh installs it as root)")
    out = tmp_path_factory.mktemp("bench")
    done = run_script("-m", "benchmarks", "--smoke", "--out", str(out), timeout=280)
    assert "wrote" in done.stderr  # progress lines go to stderr as it runs
    return out


# The smoke run takes about 40 s on an idle machine, minutes on a loaded one; pytest-timeout
# counts the fixture's time in the first test that uses it.
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_report_has_every_section_and_target(smoke_report: Path) -> None:
    markdown = (smoke_report / "performance.md").read_text()
    data = json.loads((smoke_report / "performance.json").read_text())
    assert set(data["sections"]) == set(SCENARIOS)
    for heading in (
        "## Targets (issue 10)",
        "## Server CPU per operation",
        "## Memory per idle connection",
        "## Room fan-out",
        "idle connections",
    ):
        assert heading in markdown
    target_rows = [
        line
        for line in markdown.splitlines()
        if line.endswith(("met** |", "measured |", "within noise** |"))
    ]
    assert len(target_rows) >= 10
    # The uvloop target: one row per protocol, each naming the peer measured side by side.
    uvloop_rows = [line for line in target_rows if "project with uvloop CPU/op" in line]
    assert len(uvloop_rows) == 3, uvloop_rows
    assert all(
        "aiohttp + uvloop" in line and "(paired, middle half" in line for line in uvloop_rows
    )
    assert "The uvloop target's nearest peer, paired" in markdown  # its round-by-round table
    assert "**How the uvloop target is judged.**" in markdown
    # The method and the spread are written by the generator, not by hand.
    assert "**How far to trust the CPU ratios.**" in markdown
    assert "project (make run) ÷ bare aiohttp" in markdown  # the round-by-round table
    assert "The same pair side by side at the other load, paced" in markdown
    assert "load average (1 min)" in markdown
    assert "](img/bench.png)" in markdown
    # Fan-out: one row per kind of WebSocket subscriber, in both of its tables.
    for kind in (
        "| raw clients, no compression |",
        "| browser-like: WS with permessage-deflate |",
    ):
        assert markdown.count(kind) == 2, kind
    assert (smoke_report / "img" / "bench.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_measurement_was_taken(smoke_report: Path) -> None:
    sections = json.loads((smoke_report / "performance.json").read_text())["sections"]
    medians = sections["throughput"]["medians"]
    for row in ("ws", "sse", "http"):
        for server in ("project", "aiohttp"):
            values = medians[row][server]
            assert values["cpu_us_per_op"] > 0, (row, server)
            assert values["ops_per_s"] > 0, (row, server)
            assert values["bound"] in (
                "server",
                "load generator",
                "both",
                "neither (CPU shared)",
            )
            assert not values["errors"], (row, server, values["errors"])
        # The smoke profile's two rounds give two paired ratios per row, its paced one.
        assert len(medians[row]["project"]["paired_ratios"]) == 2, row
        flat = sections["throughput"]["other_load"]["medians"][row]
        assert len(flat["project"]["paired_ratios"]) == 1, row
        assert flat["aiohttp"]["cpu_us_per_op"] > 0, row
        # The uvloop pair: the project's own measurements beside aiohttp + uvloop, round by
        # round, and their ratios.
        uvloop = sections["throughput"]["uvloop_pair"]
        assert uvloop["base"] == "aiohttp-uvloop"
        beside = uvloop["project_rounds"][row]
        assert [r["round"] for r in beside] == [1, 2], row
        assert all(r["cpu_us_per_op"] > 0 and not r["errors"] for r in beside), row
        pair = uvloop["medians"][row]
        assert pair["aiohttp-uvloop"]["cpu_us_per_op"] > 0, row
        assert len(pair["project"]["paired_ratios"]) == 2, row
        assert pair["project"]["ratio_to_base"] > 0, row
    memory = sections["idle_memory"]["medians"]
    assert {"project", "aiohttp", "project-tls"} <= set(memory)
    assert all(v["errors"] == 0 for v in memory.values())
    fanout = sections["fanout"]["result"]
    assert fanout["incomplete_messages"] == 0
    assert fanout["dropped_subscribers"] == 0
    assert fanout["latency_deliveries"] == fanout["latency_messages"] * 20
    # The same fan-out with browser-like WebSockets: deflate negotiated by all ten, every
    # message inflated and its stamp found.
    browser = sections["fanout"]["browser_like"]["result"]
    assert browser["incomplete_messages"] == 0
    assert browser["dropped_subscribers"] == 0
    assert browser["latency_deliveries"] == browser["latency_messages"] * 20
    assert browser["ws_deflate"]["negotiated"] == browser["subscribers"]["ws"] == 10
    assert browser["ws_deflate"]["compressed_messages"] >= browser["latency_messages"] * 10
    assert fanout["ws_deflate"] == {"offered": False, "negotiated": 0, "compressed_messages": 0}
    hold = sections["hold"]
    assert hold["live_held"] == 100
    assert hold["live_after"] == 0
