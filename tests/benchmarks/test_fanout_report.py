"""The fan-out section's rows and notes (benchmarks/scenarios/fanout.py), from made-up results:
what each row says, and the browser-like row measured against the raw one."""

from typing import Any

from benchmarks.harness import TIMES
from benchmarks.scenarios.fanout import (
    BROWSER_LIKE,
    RAW,
    comparison,
    deflate_notes,
    delivery_row,
    extra_ws_cpu_us,
)


def measured(
    p99: float, completed: int, server_cpu_s: float, negotiated: int = 0
) -> dict[str, Any]:
    """What `measure` returns for 500 WS + 500 SSE over a 2 s sustained window."""
    return {
        "result": {
            "subscribers": {"ws": 500, "sse": 500},
            "latency_ms": {"p50": p99 / 4, "p99": p99, "max": p99 * 2},
            "sustained_completed": completed,
            "wall_s": 2.0,
            "server_cpu_s": server_cpu_s,
            "dropped_subscribers": 0,
            "server_rss_kib": {"before": 60_000, "after": 60_000 + 25 * 1000},
            "ws_deflate": {
                "offered": negotiated > 0,
                "negotiated": negotiated,
                "compressed_messages": negotiated * 10,
            },
        },
        "sustained_messages_per_s": completed / 2.0,
    }


RAW_RUN = measured(p99=20.0, completed=200, server_cpu_s=2.0)  # 10 µs/delivery
BROWSER_RUN = measured(p99=40.0, completed=100, server_cpu_s=2.0, negotiated=500)  # 20


def test_rows_are_labelled_and_carry_the_numbers() -> None:
    raw = delivery_row(RAW, RAW_RUN, 1000)
    browser = delivery_row(BROWSER_LIKE, BROWSER_RUN, 1000)
    assert raw[:4] == ["raw clients, no compression", "500 WS + 500 SSE", "5.00", "20.00"]
    assert browser[0] == "browser-like: WS with permessage-deflate"
    assert (raw[5], raw[7]) == ("100", "10.00")  # messages/s, server CPU µs/delivery
    assert (browser[5], browser[7]) == ("50", "20.00")
    assert raw[9] == "25.0"  # server RSS KiB per subscriber


def test_rss_per_subscriber_is_left_blank_without_a_server_pid() -> None:
    run = measured(p99=20.0, completed=200, server_cpu_s=2.0)
    run["result"]["server_rss_kib"] = {"before": None, "after": None}
    assert delivery_row(RAW, run, 1000)[9] == "—"


def test_the_browser_like_row_as_ratios_to_the_raw_one() -> None:
    # Per message: raw 10 ms, browser-like 20 ms; the 10 ms more is the 500 WebSockets'.
    assert extra_ws_cpu_us(RAW_RUN, BROWSER_RUN) == 20.0
    text = comparison(RAW_RUN, BROWSER_RUN)
    assert f"delivery p99 2.00{TIMES}" in text
    assert f"server CPU per delivery 2.00{TIMES}" in text
    assert f"sustained rate 0.50{TIMES}" in text
    assert "20.0 µs of CPU more" in text


def test_says_when_deflate_was_not_negotiated() -> None:
    (note,) = deflate_notes(measured(p99=20.0, completed=200, server_cpu_s=2.0, negotiated=3))
    assert "only 3 of 500 WebSockets negotiated permessage-deflate" in note
    (note,) = deflate_notes(BROWSER_RUN)
    assert "all 500 WebSockets negotiated" in note
