"""`client.stats.check_sequence` and the CPU guard of bench: pure, table-driven."""

from __future__ import annotations

import argparse

import pytest

from client.bench.context import BenchContext, CpuMeter
from client.progress import BenchProgress
from client.stats import SequenceCheck, check_sequence

SEQUENCES = [
    pytest.param([], SequenceCheck(0, 0), id="empty"),
    pytest.param([1, 2, 3], SequenceCheck(0, 0), id="in-order"),
    pytest.param([5, 6, 7], SequenceCheck(0, 0), id="not-from-one"),
    pytest.param([1, 2, 5, 6], SequenceCheck(2, 0), id="gap"),
    pytest.param([1, 2, 3, 1, 2, 3, 4], SequenceCheck(0, 3), id="restart-from-one"),
    pytest.param([1, 3, 2], SequenceCheck(0, 0), id="reordered"),
    pytest.param([1, 1, 1], SequenceCheck(0, 2), id="same-thrice"),
    pytest.param([10, 20], SequenceCheck(9, 0), id="polling-skips"),
]


@pytest.mark.parametrize(("numbers", "expected"), SEQUENCES)
def test_check_sequence(numbers: list[int], expected: SequenceCheck) -> None:
    assert check_sequence(numbers) == expected


def context() -> BenchContext:
    return BenchContext(
        session=None,  # type: ignore[arg-type]  # not used by the CPU check
        base=None,  # type: ignore[arg-type]
        args=argparse.Namespace(timeout=1.0),
        progress=BenchProgress(enabled=False),
    )


@pytest.mark.parametrize(("cpu_s", "warned"), [(0.5, False), (0.95, True)])
def test_cpu_saturation_warning(cpu_s: float, warned: bool) -> None:
    ctx, meter = context(), CpuMeter(cpu_s=cpu_s, wall_s=1.0)
    assert ctx.check_cpu("push ws", meter) == round(cpu_s * 100, 1)
    assert bool(ctx.warnings) is warned
    if warned:
        assert "push ws: the client used 95% of a CPU core" in ctx.warnings[0]


def test_cpu_meter_measures_a_busy_block() -> None:
    with CpuMeter() as meter:
        sum(range(200_000))
    assert meter.wall_s > 0
    assert 0 < meter.percent <= 200  # noisy machines: only the order of magnitude
