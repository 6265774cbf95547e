"""`python -m benchmarks.compare`: two checkouts side by side. The numbers of a tiny run mean
nothing; what is checked is that both servers come from the checkouts named and that every
row gets its per-round ratios."""

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.compare import checkout, contenders, main, report
from benchmarks.harness import SMOKE, TIMES, Context
from benchmarks.servers import ServerSpec, started
from tests.benchmarks.running import REPO, run_script


def test_a_folder_that_is_not_a_checkout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a checkout of this repository"):
        checkout(tmp_path)


def test_rounds_below_one_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(REPO), "--rounds", "0"])
    assert exit_info.value.code == 2
    assert "--rounds must be at least 1, got 0" in capsys.readouterr().err


def test_each_server_starts_from_its_own_checkout(tmp_path: Path) -> None:
    before, after = contenders(tmp_path, REPO, "asyncio")
    assert (before.key, before.root) == ("before", tmp_path)
    assert (after.key, after.root) == ("after", REPO)
    assert after.module == "server"
    assert after.args[-2:] == ("--loop", "asyncio")


def test_report_gives_every_round_and_the_middle_half() -> None:
    summary = {
        "http": {
            "before_us": 100.0,
            "after_us": 90.0,
            "ratios": [0.9, 0.92, 0.88, 0.9],
            "median_ratio": 0.9,
            "middle_half": [0.89, 0.91],
        }
    }
    text = report(summary, Path("/a"), Path("/b"))
    assert "HTTP POST echo" in text
    assert f"0.900{TIMES}" in text
    assert "0.890 to 0.910" in text
    assert "0.900 / 0.920 / 0.880 / 0.900" in text


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_checkout_compared_with_itself(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (scripts/system-deps.sh installs it as root)")
    out = tmp_path / "compare.json"
    done = run_script(
        *("-m", "benchmarks.compare", str(REPO), "--smoke"),
        *("--rounds", "2", "--json", str(out)),
        timeout=200,
    )
    summary = json.loads(out.read_text())
    assert sorted(summary) == ["http", "sse", "ws"]
    for row in summary.values():
        assert len(row["ratios"]) == 2
        assert row["median_ratio"] > 0
        assert row["before_us"] > 0
        assert row["after_us"] > 0
    assert f"before: {REPO}" in done.stdout


def _stand_in(folder: Path) -> ServerSpec:
    """A stand-in server that exists only in `folder`: it starts only if run from there."""
    (folder / "stand_in.py").write_text(
        "import socket, sys, time\n"
        "port = int(sys.argv[sys.argv.index('--port') + 1])\n"
        "listener = socket.create_server(('127.0.0.1', port))\n"
        "time.sleep(60)\n"
    )
    return ServerSpec("stand-in", "stand-in", "stand_in", root=folder)


def test_a_server_is_started_from_its_checkout(tmp_path: Path) -> None:
    with started(_stand_in(tmp_path), tmp_path / "logs") as running:
        assert Path(f"/proc/{running.pid}/cwd").resolve() == tmp_path.resolve()


def test_afresh_serves_a_block_from_new_processes(tmp_path: Path) -> None:
    spec = _stand_in(tmp_path)
    ctx = Context(SMOKE, tmp_path)
    try:
        kept = ctx.server(spec).pid
        with ctx.afresh([spec]):
            inside = ctx.server(spec).pid
        assert inside != kept
        assert not Path(f"/proc/{inside}").exists()  # stopped (and reaped) after the block
        assert ctx.server(spec).pid == kept  # the long-lived one is back
    finally:
        ctx.close()
