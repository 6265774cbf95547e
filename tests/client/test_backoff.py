"""Table-driven tests for client.backoff."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from client.backoff import Backoff


class MaxRandom(random.Random):
    """An rng whose uniform(a, b) always returns b, exposing the jitter window's top."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    ("kwargs", "windows"),
    [
        pytest.param({}, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0], id="defaults"),
        pytest.param({"base_s": 1.0, "cap_s": 5.0}, [1.0, 2.0, 4.0, 5.0, 5.0], id="capped"),
        pytest.param({"base_s": 1.0, "factor": 3.0}, [1.0, 3.0, 9.0, 27.0, 30.0], id="factor-3"),
        pytest.param({"base_s": 2.0, "factor": 1.0}, [2.0, 2.0, 2.0], id="factor-1"),
        pytest.param({"base_s": 10.0, "cap_s": 3.0}, [3.0, 3.0], id="cap-below-base"),
        pytest.param({"base_s": 0.0}, [0.0, 0.0], id="zero-base"),
    ],
)
def test_window_grows_by_factor_up_to_cap(kwargs: dict[str, float], windows: list[float]) -> None:
    b = Backoff(**kwargs, rng=MaxRandom())
    assert [b.next_delay() for _ in windows] == pytest.approx(windows)


@pytest.mark.parametrize("seed", [0, 1, 42, 2024])
def test_full_jitter_stays_within_window(seed: int) -> None:
    b = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(seed))
    for attempt in range(50):
        window = min(30.0, 0.5 * 2.0**attempt)
        assert 0.0 <= b.next_delay() <= window


@pytest.mark.parametrize("seed", [0, 7, 99])
def test_same_seed_same_delays(seed: int) -> None:
    first = Backoff(rng=random.Random(seed))
    second = Backoff(rng=random.Random(seed))
    assert [first.next_delay() for _ in range(20)] == [second.next_delay() for _ in range(20)]


def test_delays_match_the_full_jitter_formula() -> None:
    b = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(3))
    reference = random.Random(3)
    expected = [reference.uniform(0, min(30.0, 0.5 * 2**k)) for k in range(10)]
    assert [b.next_delay() for _ in range(10)] == pytest.approx(expected)


def test_jitter_actually_varies() -> None:
    b = Backoff(base_s=1.0, cap_s=1.0, rng=random.Random(5))
    assert len({b.next_delay() for _ in range(20)}) > 1


def test_attempts_count_and_reset() -> None:
    b = Backoff(base_s=1.0, rng=MaxRandom())
    assert b.attempts == 0
    assert [b.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
    assert b.attempts == 3
    b.reset()
    assert b.attempts == 0
    assert b.next_delay() == 1.0


def test_many_attempts_do_not_overflow() -> None:
    b = Backoff(base_s=1.0, cap_s=60.0, factor=10.0, rng=MaxRandom())
    delays = [b.next_delay() for _ in range(5000)]
    assert delays[-1] == 60.0
    assert b.attempts == 5000


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        pytest.param(lambda: Backoff.fixed(2.5), 2.5, id="fixed"),
        pytest.param(lambda: Backoff.fixed(0.0), 0.0, id="fixed-zero"),
        pytest.param(lambda: Backoff.for_sse_retry(3000), 3.0, id="sse-retry-3000"),
        pytest.param(lambda: Backoff.for_sse_retry(1), 0.001, id="sse-retry-1"),
        pytest.param(lambda: Backoff.for_sse_retry(0), 0.0, id="sse-retry-0"),
    ],
)
def test_fixed_delays_have_no_jitter(factory: Callable[[], Backoff], expected: float) -> None:
    b = factory()
    assert [b.next_delay() for _ in range(5)] == [expected] * 5
    assert b.attempts == 5
    b.reset()
    assert (b.attempts, b.next_delay()) == (0, expected)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Backoff(base_s=-1.0), id="negative-base"),
        pytest.param(lambda: Backoff(cap_s=-1.0), id="negative-cap"),
        pytest.param(lambda: Backoff(factor=0.5), id="shrinking-factor"),
        pytest.param(lambda: Backoff(base_s=math.nan), id="nan-base"),
        pytest.param(lambda: Backoff(cap_s=math.inf), id="inf-cap"),
        pytest.param(lambda: Backoff.fixed(-0.1), id="negative-fixed"),
        pytest.param(lambda: Backoff.for_sse_retry(-1), id="negative-retry"),
    ],
)
def test_rejects_bad_parameters(make: Callable[[], Backoff]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not part of the contract
        make()
