"""`bench --netem`: the scenario runs through the shaping proxy, and each row states its
conditions and the median its round trips predict. Lower bounds only: physics says a
median can never beat the prediction (up to the jitter we do not add here)."""

from __future__ import annotations

import pytest

from tests.client.conftest import CliRunner


async def test_rtt_through_netem_is_never_below_two_delays(cli: CliRunner, url: str) -> None:
    run = await cli(
        "bench", "rtt", "-n", "5", "--protocols", "ws,http", "--netem", "delay=15ms",
        "--json", "--url", url,
    )  # fmt: skip
    assert run.code == 0, run.err
    meta, *rows = run.json_lines()
    assert meta["meta"]["netem"]["delay_up_ms"] == 15
    assert {row["protocol"] for row in rows} == {"ws", "http"}
    for row in rows:
        assert row["conditions"] == "delay=15ms"
        assert row["predicted_ms"] == pytest.approx(30, abs=0.1)
        assert row["min_ms"] >= 30  # 2d: nothing comes back sooner
        assert row["excess_ms"] == pytest.approx(row["p50_ms"] - 30, abs=0.01)


async def test_push_through_netem_is_never_below_one_delay(cli: CliRunner, url: str) -> None:
    run = await cli(
        "bench", "push", "-n", "3", "--rate", "10", "--protocols", "ws,sse",
        "--netem", "delay=15ms", "--url", url,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert "through netem delay=15ms" in run.out
    assert "predicted" in run.out  # the header may wrap to fit 80 columns: "predicted" over "ms"


async def test_bad_netem_spec_is_a_usage_error(cli: CliRunner, url: str) -> None:
    run = await cli("bench", "rtt", "--netem", "delay=fast", "--url", url)
    assert run.code == 2
    assert "expected a duration" in run.err
