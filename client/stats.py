"""Latency and throughput statistics for the client's bench command.

Pure functions over numbers already measured: no clock, no I/O, no third-party imports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import fmean

__all__ = [
    "LatencySummary",
    "SequenceCheck",
    "cdf_points",
    "check_sequence",
    "percentile",
    "summarize",
    "throughput",
]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Summary of ``n`` latency samples in milliseconds; percentiles as in :func:`percentile`."""

    n: int
    min_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Return the ``p``-th percentile (``0 <= p <= 100``) of ascending ``sorted_values``.

    Method: linear interpolation between closest ranks, i.e. Hyndman & Fan type 7, the
    default of NumPy (``method="linear"``), R's ``quantile`` and Excel's
    ``PERCENTILE.INC``, and what ``statistics.quantiles(method="inclusive")`` computes.
    With ``n`` values the rank is ``h = (n - 1) * p / 100``; the result is
    ``v[floor(h)] + (h - floor(h)) * (v[floor(h) + 1] - v[floor(h)])``. So ``p=0`` is the
    minimum, ``p=100`` the maximum, and the result is always within the data's range.

    Raises ``ValueError`` if the sequence is empty or not sorted, or ``p`` is out of range.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:  # also rejects NaN
        raise ValueError(f"percentile must be within [0, 100], got {p!r}")
    if any(a > b for a, b in pairwise(sorted_values)):
        raise ValueError("percentile needs values sorted in ascending order")
    rank = (len(sorted_values) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return sorted_values[low] + fraction * (sorted_values[high] - sorted_values[low])


def summarize(samples_ms: Sequence[float]) -> LatencySummary:
    """Summarize latency samples given in milliseconds, in any order.

    Raises ``ValueError`` if there are no samples or any sample is NaN or infinite.
    """
    if not samples_ms:
        raise ValueError("cannot summarize zero samples")
    if not all(math.isfinite(sample) for sample in samples_ms):
        raise ValueError("latency samples must be finite numbers")
    ordered = sorted(samples_ms)
    return LatencySummary(
        n=len(ordered),
        min_ms=ordered[0],
        p50_ms=percentile(ordered, 50),
        p90_ms=percentile(ordered, 90),
        p95_ms=percentile(ordered, 95),
        p99_ms=percentile(ordered, 99),
        max_ms=ordered[-1],
        mean_ms=fmean(ordered),
    )


def throughput(count: int, seconds: float) -> float:
    """Return ``count`` operations over ``seconds`` as operations per second.

    Raises ``ValueError`` if ``count`` is negative or ``seconds`` is not a positive
    finite number.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count!r}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be positive and finite, got {seconds!r}")
    return count / seconds


def cdf_points(samples: Sequence[float]) -> list[tuple[float, float]]:
    """Return the empirical CDF as ``(value, fraction of samples <= value)`` pairs.

    One point per distinct value, ascending; the last fraction is ``1.0``. Plotted as a
    step function (``drawstyle="steps-post"``) it is exact. No samples give ``[]``.
    """
    ordered = sorted(samples)
    total = len(ordered)
    points: list[tuple[float, float]] = []
    for index, value in enumerate(ordered, start=1):
        if index < total and ordered[index] == value:
            continue  # a later duplicate carries the higher fraction
        points.append((value, index / total))
    return points


@dataclass(frozen=True, slots=True)
class SequenceCheck:
    """How a run of numbered messages differs from "each number exactly once".

    ``lost`` counts the numbers missing between the lowest and the highest received;
    ``duplicated`` counts arrivals of a number already received.
    """

    lost: int
    duplicated: int


def check_sequence(numbers: Sequence[int]) -> SequenceCheck:
    """Count the gaps and repeats in message numbers, in the order they arrived.

    Numbers before the first one received or after the last are not known to be missing,
    so they are not counted as lost. No numbers give ``SequenceCheck(0, 0)``.
    """
    seen: set[int] = set()
    duplicated = 0
    for number in numbers:
        if number in seen:
            duplicated += 1
        else:
            seen.add(number)
    if not seen:
        return SequenceCheck(0, 0)
    return SequenceCheck(max(seen) - min(seen) + 1 - len(seen), duplicated)
