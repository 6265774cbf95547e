"""Bench tables fit an 80-column terminal; plots colour each protocol as the page does."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from client import report
from client.bench.results import BenchResult, add_baseline_ratios

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "main.css"
CAPTION = "Linux-6.18, 2 CPUs (load 0.43), Python 3.11.7, aiohttp 3.14.5; server http://x:1"


def push_rows(client_counts: list[int | None]) -> list[BenchResult]:
    """Rows like `bench push` or `bench fanout` makes, with wide numbers in every column."""
    rows = []
    for protocol in ("ws", "sse", "longpoll", "poll"):
        for clients in client_counts:
            row = BenchResult(
                scenario="push",
                protocol=protocol,
                n=6 * (clients or 1),
                size=32,
                clients=clients,
                samples_ms=[0.19, 46.81, 97.12, 147.64, 1234.5],
            )
            row.metrics.update(msgs_per_s=553.61, lost=12, duplicated=3, client_cpu_pct=31.4)
            if clients is not None:
                row.metrics["errors"] = 244
            rows.append(row)
    add_baseline_ratios(rows)
    return rows


def table_text(rows: list[BenchResult], width: int) -> str:
    pytest.importorskip("rich")
    stream = io.StringIO()
    title = "bench push: n=6, size=32 B, rate=5/s, poll every 150 ms"
    report.print_table(rows, title, CAPTION, stream=stream, width=width)
    return stream.getvalue()


@pytest.mark.parametrize("client_counts", [[None], [1, 10, 500]], ids=["push", "fanout"])
def test_tables_fit_80_columns_without_cutting_numbers(client_counts: list[int | None]) -> None:
    text = table_text(push_rows(client_counts), width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    assert "…" not in text, text
    ws_row = next(line for line in lines if line.startswith("ws "))
    assert "97.1" in ws_row  # the median, whole
    assert "1.00" in ws_row  # p50 ÷ ws
    assert "554" in ws_row  # msg/s


def test_a_table_too_wide_for_the_terminal_says_what_it_left_out() -> None:
    text = table_text(push_rows([1, 10, 500]), width=80)
    left_out = re.search(r"\((.*) left out to fit 80 columns; --json has all\)", text)
    assert left_out is not None, text
    for header in left_out[1].split(", "):
        assert header in report._HEADERS.values()
    wide = table_text(push_rows([1, 10, 500]), width=160)
    assert "left out" not in wide
    assert "p90 ms" in wide
    assert "client CPU %" in wide


def test_columns_the_title_already_gives_are_not_repeated() -> None:
    text = table_text(push_rows([None]), width=80)
    header = next(line for line in text.splitlines() if line.startswith("protocol"))
    assert "size" not in header  # size=32 B is in the title, the same for every row
    assert " n " not in f"{header} "


def page_colors() -> dict[str, str]:
    """The protocol colours the page's stylesheet declares (`--ws: #1a56c8;`)."""
    declared = dict(re.findall(r"--(ws|sse|http|long):\s*(#[0-9a-fA-F]{6})", CSS.read_text()))
    return {name: value.lower() for name, value in declared.items()}


def test_plots_use_the_page_colours() -> None:
    page = page_colors()
    assert set(page) == {"ws", "sse", "http", "long"}
    assert report.PROTOCOL_COLORS["ws"] == page["ws"]
    assert report.PROTOCOL_COLORS["sse"] == page["sse"]
    assert report.PROTOCOL_COLORS["http"] == page["http"]
    assert report.PROTOCOL_COLORS["poll"] == page["http"]  # the page's polling column
    assert report.PROTOCOL_COLORS["longpoll"] == page["long"]


def test_a_protocol_has_one_colour_in_every_plot() -> None:
    """SSE was green in rtt.png and orange in push.png: colours went by position."""
    rtt = [BenchResult("rtt", protocol, 5, 32) for protocol in ("ws", "http", "sse")]
    push = [BenchResult("push", protocol, 5, 32) for protocol in ("ws", "sse", "longpoll")]
    assert report._styles(rtt)["sse"]["color"] == report._styles(push)["sse"]["color"]
    assert report._styles(rtt)["sse"]["color"] == report.PROTOCOL_COLORS["sse"]
