"""`bench` for each scenario with small N: valid JSON lines with the stable keys, CSV, PNG."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from client.bench.results import KEYS
from tests.client.conftest import CliRunner

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BASE_KEYS = {"scenario", "protocol", "n", "size"}
LATENCY = {"min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"}

SCENARIOS = [
    pytest.param(["rtt", "-n", "5"], {"ws", "http", "sse"}, LATENCY | {"msgs_per_s"}, id="rtt"),
    pytest.param(
        ["push", "-n", "4", "--rate", "50", "--poll-interval", "7"],
        {"ws", "sse", "longpoll", "poll"},
        LATENCY | {"msgs_per_s", "lost", "duplicated"},
        id="push",
    ),
    pytest.param(
        ["fanout", "-n", "3", "--rate", "50", "--clients", "1,3", "--poll-interval", "7"],
        {"ws", "sse", "longpoll", "poll"},
        LATENCY | {"msgs_per_s", "clients", "lost"},
        id="fanout",
    ),
    pytest.param(
        ["overhead", "-n", "5"],
        {"ws", "http", "sse", "longpoll"},
        {"up_bytes_per_msg", "down_bytes_per_msg", "handshake_bytes", "payload_bytes"},
        id="overhead",
    ),
    pytest.param(
        ["reconnect", "-n", "6", "--cuts", "1", "--outage", "50", "--rate", "50"],
        {"ws", "sse", "longpoll"},
        {"reconnect_ms", "lost", "duplicated", "cuts"},
        id="reconnect",
    ),
]


def rows_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in records if "scenario" in record]


@pytest.mark.usefixtures("rooms")
@pytest.mark.parametrize(("argv", "protocols", "metrics"), SCENARIOS)
async def test_bench_json_csv_and_plot(
    cli: CliRunner,
    url: str,
    tmp_path: Path,
    argv: list[str],
    protocols: set[str],
    metrics: set[str],
) -> None:
    csv_path, png_path = tmp_path / "results.csv", tmp_path / "results.png"
    run = await cli(
        "bench", *argv, "--json", "--csv", str(csv_path), "--plot", str(png_path), "--url", url
    )
    assert run.code == 0, run.err
    records = run.json_lines()
    meta = records[0]["meta"]
    assert {"machine", "versions", "server", "settings", "started", "warnings"} <= meta.keys()
    assert meta["server"]["config"]["sse_retry"] == 100
    assert meta["settings"]["scenario"] == argv[0]
    rows = rows_of(records[1:])
    assert len(rows) == len(records) - 1
    assert {row["protocol"] for row in rows} == protocols
    for row in rows:
        assert row["scenario"] == argv[0]
        assert BASE_KEYS | metrics <= row.keys(), row
        assert list(row) == [key for key in KEYS if key in row]  # the documented order
        assert row["n"] > 0
        if "p50_ms" in row:  # compared with ws, measured in the same run
            assert row["p50_vs_ws"] == pytest.approx(
                row["p50_ms"]
                / next(
                    r["p50_ms"]
                    for r in rows
                    if r["protocol"] == "ws" and r.get("clients") == row.get("clients")
                ),
                rel=0.05,  # both medians are rounded to 3 decimals in the JSON
            )

    text = csv_path.read_text(encoding="utf-8")
    assert text.startswith("# meta: {")
    table = list(csv.DictReader(io.StringIO(text.split("\n", 1)[1])))
    assert list(table[0]) == list(KEYS)
    assert [r["protocol"] for r in table] == [row["protocol"] for row in rows]

    png = png_path.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 20_000  # axes, curves and labels, not an empty canvas


async def test_bench_table_for_people(cli: CliRunner, url: str) -> None:
    run = await cli(
        "bench", "push", "-n", "3", "--rate", "50", "--protocols", "ws,sse", "--url", url
    )
    assert run.code == 0
    assert "bench push: n=3, size=32 B, rate=50/s" in run.out
    for word in ("protocol", "p50 ms", "msg/s", "client CPU %", "ws", "sse"):
        assert word in run.out
    assert run.err == ""


async def test_push_polling_delay_and_losses(cli: CliRunner, url: str) -> None:
    """Polling every 40 ms while ticks come every 10 ms must miss most ticks."""
    run = await cli(
        "bench",
        "push",
        "-n",
        "5",
        "--rate",
        "100",
        "--poll-interval",
        "40",
        "--protocols",
        "poll",
        "--json",
        "--url",
        url,
    )
    (row,) = rows_of(run.json_lines())
    assert row["lost"] >= 5  # three of every four ticks come and go between two polls


async def test_overhead_counts_websocket_framing_exactly(cli: CliRunner, url: str) -> None:
    run = await cli(
        "bench",
        "overhead",
        "-n",
        "5",
        "--size",
        "100",
        "--protocols",
        "ws,http",
        "--json",
        "--url",
        url,
    )
    rows = {row["protocol"]: row for row in rows_of(run.json_lines())}
    # RFC 6455: 2-byte header for 100 bytes; client frames add a 4-byte masking key.
    assert rows["ws"]["up_bytes_per_msg"] == 106
    assert rows["ws"]["down_bytes_per_msg"] == 102
    assert rows["ws"]["handshake_bytes"] > 200  # the HTTP upgrade and the close frames
    assert rows["http"]["up_bytes_per_msg"] > 200  # request line and headers, every time
    assert rows["http"]["handshake_bytes"] == 0  # keep-alive: nothing paid per connection


async def test_reconnect_without_resume_duplicates(cli: CliRunner, url: str) -> None:
    run = await cli(
        "bench",
        "reconnect",
        "-n",
        "6",
        "--cuts",
        "1",
        "--outage",
        "20",
        "--rate",
        "50",
        "--protocols",
        "ws,sse",
        "--no-resume",
        "--json",
        "--url",
        url,
    )
    rows = {row["protocol"]: row for row in rows_of(run.json_lines())}
    for protocol in ("ws", "sse"):
        # The stream starts again at tick 1: what came before the cut comes again.
        assert rows[protocol]["duplicated"] == 3
        assert rows[protocol]["cuts"] == 1


async def test_reconnect_with_resume_loses_and_duplicates_nothing_on_streams(
    cli: CliRunner, url: str
) -> None:
    run = await cli(
        "bench",
        "reconnect",
        "-n",
        "30",
        "--cuts",
        "2",
        "--outage",
        "20",
        "--rate",
        "50",
        "--protocols",
        "ws,sse",
        "--json",
        "--url",
        url,
    )
    for row in rows_of(run.json_lines()):
        assert (row["lost"], row["duplicated"], row["cuts"]) == (0, 0, 2)
        assert row["reconnect_ms"] >= 20


@pytest.mark.slow
@pytest.mark.usefixtures("rooms")
async def test_rtt_reports_throttling_and_how_to_avoid_it(
    cli: CliRunner, start_server: Any
) -> None:
    from tests.client.conftest import known_settings

    server: TestServer = await start_server(
        **known_settings(room_rate=5, room_burst=2, sse_retry=100)
    )
    url = str(server.make_url("")).rstrip("/")
    run = await cli("bench", "rtt", "-n", "4", "--protocols", "sse", "--json", "--url", url)
    assert run.code == 0
    (row,) = rows_of(run.json_lines())
    assert row["throttled"] >= 1
    assert "--room-rate 0" in run.err
    assert run.json_lines()[0]["meta"]["warnings"]


async def test_plot_without_matplotlib_is_a_usage_error(
    cli: CliRunner, url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a),
    )
    run = await cli("bench", "rtt", "--plot", str(tmp_path / "x.png"), "--url", url)
    assert run.code == 2
    (line,) = run.err.splitlines()
    assert "pip install 'protocol-lab[plot]'" in line


def test_log_axes_of_plots_are_labelled_with_plain_numbers() -> None:
    """0.2 ms, not 2 x 10^-1: minor ticks labelled where there is room, majors always."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from client import report

    figure, axis = plt.subplots()
    try:
        axis.set_xscale("log")
        axis.set_xlim(0.15, 1.5)
        report._plain_numbers(axis.xaxis)
        figure.canvas.draw()
        labels = [t.get_text() for t in axis.xaxis.get_ticklabels(which="both") if t.get_text()]
        assert {"0.2", "0.3", "0.5", "1"} <= set(labels)
        assert not any("10^" in label or "times" in label for label in labels)
    finally:
        plt.close(figure)
