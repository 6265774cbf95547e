"""Table-driven tests for client.stats."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from client.stats import LatencySummary, cdf_points, percentile, summarize, throughput

PERCENTILES = [
    pytest.param([5.0], 0, 5.0, id="single-p0"),
    pytest.param([5.0], 50, 5.0, id="single-p50"),
    pytest.param([5.0], 100, 5.0, id="single-p100"),
    pytest.param([1.0, 2.0], 0, 1.0, id="min"),
    pytest.param([1.0, 2.0], 100, 2.0, id="max"),
    pytest.param([1.0, 2.0], 50, 1.5, id="midpoint"),
    pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.5, id="even-median"),
    pytest.param([1.0, 2.0, 3.0], 50, 2.0, id="odd-median"),
    # rank (5 - 1) * 0.9 = 3.6 -> 40 + 0.6 * (50 - 40)
    pytest.param([10.0, 20.0, 30.0, 40.0, 50.0], 90, 46.0, id="p90-interpolated"),
    # rank (4 - 1) * 0.25 = 0.75 -> 0 + 0.75 * 10
    pytest.param([0.0, 10.0, 20.0, 30.0], 25, 7.5, id="p25-interpolated"),
    pytest.param([3.0, 3.0, 3.0], 99, 3.0, id="all-equal"),
    pytest.param([1, 2, 3, 4], 100 / 3, 2.0, id="ints-and-fraction"),
    pytest.param([-5.0, 5.0], 50, 0.0, id="negative"),
]


@pytest.mark.parametrize(("values", "p", "expected"), PERCENTILES)
def test_percentile(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


@pytest.mark.parametrize("n", [2, 3, 10, 101, 1000])
def test_percentile_matches_statistics_inclusive(n: int) -> None:
    values = sorted(random.Random(n).uniform(0, 100) for _ in range(n))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    ours = [percentile(values, p) for p in range(1, 100)]
    assert ours == pytest.approx(cuts)


PERCENTILE_ERRORS = [
    pytest.param([], 50, "no values", id="empty"),
    pytest.param([1.0], -0.1, "within", id="below-0"),
    pytest.param([1.0], 100.1, "within", id="above-100"),
    pytest.param([1.0], math.nan, "within", id="nan-p"),
    pytest.param([2.0, 1.0], 50, "sorted", id="unsorted"),
]


@pytest.mark.parametrize(("values", "p", "message"), PERCENTILE_ERRORS)
def test_percentile_rejects(values: list[float], p: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        percentile(values, p)


SUMMARIES = [
    pytest.param([7.0], LatencySummary(1, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0), id="one"),
    pytest.param(
        [4.0, 1.0, 3.0, 2.0],  # unsorted input is fine
        LatencySummary(4, 1.0, 2.5, 3.7, 3.85, 3.97, 4.0, 2.5),
        id="four-unsorted",
    ),
    pytest.param(
        [float(v) for v in range(1, 101)],
        LatencySummary(100, 1.0, 50.5, 90.1, 95.05, 99.01, 100.0, 50.5),
        id="one-to-hundred",
    ),
]


@pytest.mark.parametrize(("samples", "expected"), SUMMARIES)
def test_summarize(samples: list[float], expected: LatencySummary) -> None:
    summary = summarize(samples)
    assert summary.n == expected.n
    for field in ("min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"):
        assert getattr(summary, field) == pytest.approx(getattr(expected, field)), field


def test_summarize_does_not_mutate_input() -> None:
    samples = [3.0, 1.0, 2.0]
    summarize(samples)
    assert samples == [3.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param([], id="empty"),
        pytest.param([1.0, math.nan], id="nan"),
        pytest.param([math.inf], id="inf"),
    ],
)
def test_summarize_rejects(samples: list[float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not part of the contract
        summarize(samples)


@pytest.mark.parametrize(
    ("count", "seconds", "expected"),
    [
        pytest.param(100, 2.0, 50.0, id="simple"),
        pytest.param(0, 1.0, 0.0, id="zero-count"),
        pytest.param(1, 0.001, 1000.0, id="sub-second"),
    ],
)
def test_throughput(count: int, seconds: float, expected: float) -> None:
    assert throughput(count, seconds) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("count", "seconds"),
    [
        pytest.param(1, 0.0, id="zero-seconds"),
        pytest.param(1, -1.0, id="negative-seconds"),
        pytest.param(1, math.nan, id="nan-seconds"),
        pytest.param(1, math.inf, id="inf-seconds"),
        pytest.param(-1, 1.0, id="negative-count"),
    ],
)
def test_throughput_rejects(count: int, seconds: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not part of the contract
        throughput(count, seconds)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([5.0], [(5.0, 1.0)], id="one"),
        pytest.param([3.0, 1.0, 2.0, 4.0], [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)], id="sorts"),
        pytest.param([1.0, 2.0, 2.0, 3.0], [(1, 0.25), (2, 0.75), (3, 1.0)], id="duplicates"),
        pytest.param([2.0, 2.0], [(2.0, 1.0)], id="all-equal"),
    ],
)
def test_cdf_points(samples: list[float], expected: list[tuple[float, float]]) -> None:
    assert cdf_points(samples) == expected
