"""The token bucket, on a fake clock."""

import pytest

from server.core.ratelimit import RateLimited, RateLimiter, RateLimiterPool, acquire_or_raise


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def acquire_all(limiter: RateLimiter, attempts: int = 100) -> int:
    """How many of `attempts` immediate acquires succeed."""
    return sum(limiter.try_acquire() for _ in range(attempts))


def test_burst_then_refused(clock: FakeClock) -> None:
    limiter = RateLimiter(2.0, 5, clock=clock)
    assert acquire_all(limiter) == 5
    assert not limiter.try_acquire()
    assert limiter.retry_after() == pytest.approx(0.5)


def test_refills_at_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(4.0, 2, clock=clock)
    acquire_all(limiter)
    clock.advance(0.125)  # half a token
    assert not limiter.try_acquire()
    assert limiter.retry_after() == pytest.approx(0.125)
    clock.advance(0.125)
    assert limiter.retry_after() == 0.0
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_refill_capped_at_burst(clock: FakeClock) -> None:
    limiter = RateLimiter(10.0, 3, clock=clock)
    acquire_all(limiter)
    clock.advance(3600)
    assert acquire_all(limiter) == 3


def test_sustained_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(3.0, 1, clock=clock)
    acquire_all(limiter)
    accepted = 0
    for _ in range(300):  # 10 s in steps of 1/30 s, which are not exact in binary
        clock.advance(1 / 30)
        accepted += acquire_all(limiter, attempts=5)
    assert accepted == 30


def test_retry_after_is_zero_when_tokens_available(clock: FakeClock) -> None:
    assert RateLimiter(1.0, 1, clock=clock).retry_after() == 0.0


def test_clock_stepping_back_does_not_remove_tokens(clock: FakeClock) -> None:
    limiter = RateLimiter(1.0, 2, clock=clock)
    clock.advance(-50)
    assert acquire_all(limiter) == 2


def test_zero_rate_is_unlimited(clock: FakeClock) -> None:
    limiter = RateLimiter(0, 0, clock=clock)
    assert limiter.unlimited
    assert acquire_all(limiter, attempts=10_000) == 10_000
    assert limiter.retry_after() == 0.0


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [(-1.0, 5, "rate_per_s must be >= 0"), (1.0, 0, "burst must be >= 1")],
)
def test_rejects_bad_configuration(rate: float, burst: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimiter(rate, burst)


def test_acquire_or_raise_says_when_to_retry() -> None:
    limiter = RateLimiter(2, 1, clock=FakeClock())
    acquire_or_raise(limiter)
    with pytest.raises(RateLimited, match="at most 2 messages per second") as refused:
        acquire_or_raise(limiter)
    assert refused.value.retry_after == pytest.approx(0.5)


def test_pool_keeps_one_bucket_per_key_and_stays_bounded() -> None:
    pool = RateLimiterPool(1, 1, max_keys=2, clock=FakeClock())
    assert pool.for_key("a").try_acquire()
    assert not pool.for_key("a").try_acquire()
    assert pool.for_key("b").try_acquire()
    pool.for_key("c")
    assert len(pool) == 2
    assert pool.for_key("a").try_acquire()  # "a" was forgotten: a fresh, full bucket
