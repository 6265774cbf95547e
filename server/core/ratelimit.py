"""Token-bucket rate limiting for messages a client sends (one limiter per client).

The bucket holds up to `burst` tokens and refills at `rate_per_s` tokens per second; each
accepted message takes one token. So a client may send `burst` messages at once, then
`rate_per_s` per second on average. A rate of 0 disables the limit.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

from server.core.refusals import Reason, Refusal

# Refill arithmetic is in floats: 1/3 s at 3/s may give 0.999...; that still counts as a token.
_EPSILON = 1e-9


class RateLimiter:
    """A token bucket that starts full. Not thread-safe; meant for one event loop."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s < 0:
            raise ValueError(f"rate_per_s must be >= 0, got {rate_per_s}")
        if rate_per_s > 0 and burst < 1:
            # With no room for even one token nothing could ever pass.
            raise ValueError(f"burst must be >= 1 when rate_per_s > 0, got {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    @property
    def unlimited(self) -> bool:
        """True when the rate is 0, i.e. every acquire succeeds."""
        return self.rate_per_s == 0

    def try_acquire(self) -> bool:
        """Take one token if there is one; False means the caller should refuse the message."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1)
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until `try_acquire` would succeed (0.0 if it would now)."""
        if self.unlimited:
            return 0.0
        self._refill()
        if self._tokens >= 1 - _EPSILON:
            return 0.0
        return (1 - self._tokens) / self.rate_per_s

    def _refill(self) -> None:
        now = self._clock()
        # max(): a clock that steps back must not take tokens away.
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        self._updated = now


class RateLimited(Refusal):
    """A client sent faster than its limit; `retry_after` says when it may send again."""

    status = 429
    reason = Reason.RATE_LIMIT
    retry_after: float

    def __init__(self, rate_per_s: float, retry_after: float) -> None:
        super().__init__(
            f"rate limit: at most {rate_per_s:g} messages per second; retry in {retry_after:.2f} s"
        )
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        """The error, and the exact wait for clients that can use it (`Retry-After` takes
        whole seconds)."""
        return {"error": str(self), "retry_after_s": round(self.retry_after, 3)}


def acquire_or_raise(limiter: RateLimiter) -> None:
    """Take a token from `limiter` or raise `RateLimited` saying when to retry."""
    if not limiter.try_acquire():
        raise RateLimited(limiter.rate_per_s, limiter.retry_after())


class RateLimiterPool:
    """One `RateLimiter` per key (a client address), for clients without a connection of
    their own. Bounded: past `max_keys` the least recently used bucket is forgotten, which
    only ever gives that client a fresh, full bucket."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s, self.burst, self._clock = rate_per_s, burst, clock
        self._max_keys = max_keys
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()

    def __len__(self) -> int:
        return len(self._limiters)

    def for_key(self, key: str) -> RateLimiter:
        """The limiter of `key`, created full on first use."""
        limiter = self._limiters.pop(key, None)
        if limiter is None:
            limiter = RateLimiter(self.rate_per_s, self.burst, self._clock)
        self._limiters[key] = limiter
        if len(self._limiters) > self._max_keys:
            self._limiters.popitem(last=False)
        return limiter
