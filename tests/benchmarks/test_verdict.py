"""How `make bench` pairs the project with bare aiohttp round by round, and how the report
turns those per-round ratios into a verdict on the 1.05 CPU-ratio target: met, not met, or
within noise when the spread straddles the target. Pure functions, no servers."""

import dataclasses
from pathlib import Path

import pytest

from benchmarks.harness import SMOKE, TIMES, Context, Target
from benchmarks.report import _targets
from benchmarks.scenarios.throughput import (
    BASELINE,
    batches,
    combined,
    paired_ratios,
    spread,
    verdict,
)
from benchmarks.servers import BARE, PROJECT, STARLETTE


def rounds(*values: float) -> list[dict[str, float]]:
    return [{"round": i, "cpu_us_per_op": v} for i, v in enumerate(values, start=1)]


def test_paired_ratios_pair_the_same_round_only() -> None:
    by_server = {
        BASELINE: rounds(10.0, 20.0, 10.0),
        "project": [*rounds(11.0, 22.0), {"round": 9, "cpu_us_per_op": 99.0}],
    }
    assert paired_ratios(by_server, "project") == pytest.approx([1.1, 1.1])


def test_spread_uses_quartiles_from_four_rounds() -> None:
    values = spread([1.00, 1.01, 1.02, 1.03, 1.04, 1.50])
    assert values is not None
    assert values["min"] == 1.00
    assert values["max"] == 1.50
    assert 1.01 <= values["q1"] < values["q3"] <= 1.04  # the outlier does not move them


def test_spread_of_few_rounds_is_their_extremes() -> None:
    assert spread([1.2, 0.9]) == {"min": 0.9, "q1": 0.9, "q3": 1.2, "max": 1.2, "n": 2}
    assert spread([]) is None


@pytest.mark.parametrize(
    ("headline", "ratios", "expected"),
    [
        (1.00, [0.98, 0.99, 1.00, 1.01, 1.02, 1.03], (True, False)),
        (1.20, [1.15, 1.18, 1.20, 1.22, 1.25, 1.30], (False, False)),
        (1.03, [0.95, 1.00, 1.03, 1.06, 1.09, 1.12], (None, True)),
        (1.07, [0.95, 1.00, 1.07, 1.08, 1.09, 1.10], (None, True)),
    ],
    ids=["met", "not-met", "straddles-below", "straddles-above"],
)
def test_verdict_needs_the_spread_on_one_side(
    headline: float, ratios: list[float], expected: tuple[bool | None, bool]
) -> None:
    assert verdict(headline, spread(ratios)) == expected


def test_report_says_within_noise() -> None:
    markdown = _targets(
        [
            Target("a", f"1.00{TIMES}", True),
            Target("b", f"1.04{TIMES}", None, within_noise=True),
            Target("c", "—", None),
        ]
    )
    assert "1 of 3 targets met in this run, 1 within this run's noise" in markdown
    assert f"| b | 1.04{TIMES} | **within noise** |" in markdown
    assert "| c | — | not measured |" in markdown


def test_rounds_pair_the_targets_and_reverse_the_order(tmp_path: Path) -> None:
    profile = dataclasses.replace(SMOKE, rounds=1, paired_rounds=2, together=True)
    ctx = Context(profile, tmp_path)
    ctx.servers = [BARE, PROJECT, STARLETTE]
    first = [[s.key for s in batch] for batch in batches(ctx, "ws", 1)]
    second = [[s.key for s in batch] for batch in batches(ctx, "ws", 2)]
    assert first == [["aiohttp", "project"], ["starlette"]]
    assert second == [["project", "aiohttp"]]  # the peers only in the first `rounds`
    alone = Context(dataclasses.replace(profile, together=False), tmp_path)
    alone.servers = ctx.servers
    assert [len(batch) for batch in batches(alone, "ws", 1)] == [1, 1, 1]


def test_a_target_must_hold_at_both_loads() -> None:
    met, missed, unsure = (True, False), (False, False), (None, True)
    assert combined([met, met]) == met
    assert combined([met, missed]) == missed
    assert combined([unsure, missed]) == missed
    assert combined([met, unsure]) == unsure
    assert combined([]) == (None, False)
