"""How `make bench` pairs the project with bare aiohttp round by round, and how the report
turns those per-round ratios into a verdict on the 1.05 CPU-ratio target: met, not met, or
within noise when the spread straddles the target. Pure functions, no servers."""

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import SMOKE, TIMES, Context, Target
from benchmarks.report import _targets
from benchmarks.scenarios.throughput import (
    BASELINE,
    ROWS,
    UVLOOP_BASE,
    _summarise,
    batches,
    combined,
    paired_ratios,
    record,
    spread,
    uvloop_rounds,
    uvloop_targets,
    verdict,
)
from benchmarks.servers import BARE, BARE_UVLOOP, PROJECT, STARLETTE, WEBSOCKETS


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


def test_the_uvloop_pair_is_a_batch_of_its_own(tmp_path: Path) -> None:
    profile = dataclasses.replace(SMOKE, rounds=1, paired_rounds=2, together=True)
    ctx = Context(profile, tmp_path)
    ctx.servers = [PROJECT, BARE, BARE_UVLOOP, STARLETTE]
    first = [[s.key for s in batch] for batch in batches(ctx, "ws", 1)]
    second = [[s.key for s in batch] for batch in batches(ctx, "ws", 2)]
    assert first == [["project", "aiohttp"], ["project", UVLOOP_BASE], ["starlette"]]
    # Past `rounds`, both pairs go on, in the other order; the other peers do not.
    assert second == [[UVLOOP_BASE, "project"], ["aiohttp", "project"]]
    without_bare = Context(profile, tmp_path)
    without_bare.servers = [PROJECT, BARE_UVLOOP]
    assert [[s.key for s in b] for b in batches(without_bare, "ws", 1)] == [
        ["project"],  # the project's own figure is still taken
        ["project", UVLOOP_BASE],
    ]


def measured(round_no: int, cpu_us_per_op: float) -> dict[str, Any]:
    """A measurement as `measure` returns it, with every field the summary reads."""
    return {
        "round": round_no,
        "cpu_us_per_op": cpu_us_per_op,
        "ops_per_s": 1000.0,
        "latency_ms": {"p50": 1.0, "p99": 2.0},
        "server_cores": 0.5,
        "client_cores": 0.4,
        "client_us_per_op": 5.0,
        "server_cpu_s": 1.0,
        "server_stat_cpu_s": 1.0,
        "errors": [],
    }


def uvloop_run(
    ctx: Context, beside_bare: list[float], pair: list[tuple[float, float]], alone: float
) -> list[Target]:
    """The uvloop targets of a run whose rounds measured, on every row: the project beside
    bare aiohttp (`beside_bare`, bare at 10), then (project, aiohttp + uvloop) side by side
    (`pair`), and starlette alone at `alone`; each batch filed as `run` files it."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {row: {} for row in ROWS}
    beside_uvloop: dict[str, list[dict[str, Any]]] = {row: [] for row in ROWS}
    for row in ROWS:
        for round_no, (project, (paired, peer)) in enumerate(
            zip(beside_bare, pair, strict=True), start=1
        ):
            together = [PROJECT, BARE]
            record(
                samples[row],
                beside_uvloop[row],
                together,
                [measured(round_no, project), measured(round_no, 10.0)],
                round_no,
            )
            uvloop = [BARE_UVLOOP, PROJECT]
            record(
                samples[row],
                beside_uvloop[row],
                uvloop,
                [measured(round_no, peer), measured(round_no, paired)],
                round_no,
            )
            if round_no == 1:
                record(samples[row], beside_uvloop[row], [STARLETTE], [measured(1, alone)], 1)
    summary = {row: _summarise(ctx, row, samples[row]) for row in ROWS}
    uvloop_summary = {
        row: _summarise(
            ctx, row, uvloop_rounds(samples[row], beside_uvloop[row]), UVLOOP_BASE, ("project",)
        )
        for row in ROWS
    }
    # The project's figure beside bare aiohttp is not mixed into the uvloop pair's.
    assert [r["cpu_us_per_op"] for r in samples["ws"]["project"]] == beside_bare
    assert uvloop_summary["ws"]["project"]["paired_ratios"] == pytest.approx(
        [paired / peer for paired, peer in pair]
    )
    return uvloop_targets(ctx, summary, uvloop_summary, "uvloop")


@pytest.mark.parametrize(
    ("pair", "expected", "word"),
    [
        ([(9.0, 10.0), (9.2, 10.0), (9.1, 10.0), (8.9, 10.0)], (True, False), "met"),
        # 2 to 4 % dearer: under the 1.05 target's threshold, but not lower than the peer.
        ([(10.2, 10.0), (10.3, 10.0), (10.25, 10.0), (10.4, 10.0)], (False, False), "not met"),
        ([(9.0, 10.0), (11.0, 10.0), (9.5, 10.0), (10.4, 10.0)], (None, True), "noise"),
    ],
    ids=["met", "not-met", "straddles"],
)
def test_uvloop_target_pairs_the_project_with_aiohttp_uvloop(
    tmp_path: Path,
    pair: list[tuple[float, float]],
    expected: tuple[bool | None, bool],
    word: str,
) -> None:
    ctx = Context(SMOKE, tmp_path)
    ctx.servers = [PROJECT, BARE, BARE_UVLOOP, STARLETTE, WEBSOCKETS]
    # Beside bare aiohttp the project costs 20: were that figure used against aiohttp +
    # uvloop (10), every case would be "not met".
    targets = uvloop_run(ctx, [20.0] * len(pair), pair, alone=40.0)
    assert len(targets) == len(ROWS)
    for target in targets:
        assert (target.met, target.within_noise) == expected, (word, target)
        assert "aiohttp + uvloop" in target.measured
        assert "(paired, middle half" in target.measured
        assert f"starlette + uvicorn 0.50{TIMES} (one at a time)" in target.measured


def test_uvloop_target_is_missed_on_a_peer_measured_alone(tmp_path: Path) -> None:
    ctx = Context(SMOKE, tmp_path)
    ctx.servers = [PROJECT, BARE, BARE_UVLOOP, STARLETTE]
    pair = [(9.0, 10.0)] * 4  # met against aiohttp + uvloop...
    targets = uvloop_run(ctx, [20.0] * 4, pair, alone=15.0)  # ...but starlette is cheaper
    assert all(t.met is False and not t.within_noise for t in targets)
    assert f"starlette + uvicorn 1.33{TIMES} (one at a time)" in targets[0].measured


def test_uvloop_target_is_not_judged_on_asyncio(tmp_path: Path) -> None:
    ctx = Context(SMOKE, tmp_path)
    ctx.servers = [PROJECT, BARE_UVLOOP]
    summary = {row: {"project": {"cpu_us_per_op": 5.0}} for row in ROWS}
    uvloop_summary: dict[str, dict[str, dict[str, Any]]] = {
        row: {
            "project": {"ratio_to_base": 0.5, "paired_spread": spread([0.5, 0.5])},
            UVLOOP_BASE: {"cpu_us_per_op": 10.0},
        }
        for row in ROWS
    }
    targets = uvloop_targets(ctx, summary, uvloop_summary, "asyncio")
    assert all(t.met is None and not t.within_noise for t in targets)
    assert targets[0].measured.startswith("not judged: the project ran on asyncio")


def test_idle_memory_names_the_same_loop_ratios() -> None:
    from benchmarks.scenarios.idle_memory import _like_for_like

    summary = {
        "project": {"ws_kib": 15.0, "sse_kib": 12.0},
        "project-asyncio": {"ws_kib": 14.0, "sse_kib": 11.0},
        "aiohttp": {"ws_kib": 14.0, "sse_kib": 10.0},
        "aiohttp-uvloop": {"ws_kib": 15.0, "sse_kib": 10.0},
    }
    note = _like_for_like(summary)
    assert f"`--loop asyncio` ÷ bare aiohttp: 1.00{TIMES} per WS, 1.10{TIMES} per SSE" in note
    assert f"(make run) ÷ aiohttp + uvloop: 1.00{TIMES} per WS, 1.20{TIMES} per SSE" in note
    assert _like_for_like({"project": summary["project"]}) == ""
