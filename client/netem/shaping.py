"""The shaping pieces of one direction, pure and clock-driven (no I/O, no sleeping):
when a chunk may leave the delay line, how long the token bucket makes it wait, and what
a buffering middlebox holds back."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from client.netem.conditions import MAX_BUFFER

__all__ = ["Buffer", "DelayClock", "TokenBucket"]

MIN_BURST = 4096  # bytes: small enough that a big message visibly queues the next one


@dataclass(slots=True)
class DelayClock:
    """Release times for a delay line that keeps byte order.

    Each chunk leaves at read time + delay + a random 0..jitter, but never before the chunk
    read just before it: jitter varies the spacing, it never reorders (TCP would not let a
    real network reorder the bytes an application sees either).
    """

    rng: random.Random = field(default_factory=random.Random)
    _last: float = 0.0
    _hold: float = 0.0

    def hold_until(self, moment: float) -> None:
        """No chunk is released before `moment` plus its own delay."""
        self._hold = moment

    def release_at(self, read_at: float, delay_s: float, jitter_s: float) -> float:
        """When the chunk read at `read_at` may be written."""
        extra = self.rng.uniform(0.0, jitter_s) if jitter_s else 0.0
        self._last = max(max(read_at, self._hold) + delay_s + extra, self._last)
        return self._last


@dataclass(slots=True)
class TokenBucket:
    """A token bucket in bytes: fills at the rate, holds one burst (10 ms of the rate, at
    least `MIN_BURST`), starts full. `wait_s` says how long a slice must wait to go out."""

    _tokens: float = 0.0
    _at: float = 0.0
    _rate_bps: float = 0.0  # 0: not started

    @staticmethod
    def burst(rate_bps: float) -> int:
        """The largest slice written at once at this rate."""
        return max(MIN_BURST, int(rate_bps / 8 * 0.01))

    def wait_s(self, size: int, rate_bps: float, now: float) -> float:
        """Seconds until `size` bytes may go at `rate_bps` (0: now); takes the tokens."""
        per_s, capacity = rate_bps / 8, self.burst(rate_bps)
        if rate_bps != self._rate_bps:  # first use, or a new rate: start full
            self._tokens, self._rate_bps = float(capacity), rate_bps
        else:
            self._tokens = min(capacity, self._tokens + (now - self._at) * per_s)
        self._at = now
        self._tokens -= size
        # A deficit is paid off by waiting; the next call refills from then on.
        return -self._tokens / per_s if self._tokens < 0 else 0.0


@dataclass(slots=True)
class Buffer:
    """A buffering middlebox on the server-to-client side: holds bytes until `limit` have
    gathered (None: no size limit), until a response ends, or until the connection closes.
    Never holds more than `MAX_BUFFER` bytes (then it lets them go: `overflows` counts it)."""

    held: bytearray = field(default_factory=bytearray)
    overflows: int = 0
    releases: int = 0

    def add(self, data: bytes, limit: int | None, response_ended: bool) -> bytes:
        """Take `data`; returns what may go now (b"" while holding)."""
        self.held += data
        full = limit is not None and len(self.held) >= limit
        if len(self.held) >= MAX_BUFFER and not full:
            self.overflows += 1
            full = True
        if full or response_ended:
            return self.flush()
        return b""

    def flush(self) -> bytes:
        """Everything held, and empty."""
        if not self.held:
            return b""
        out = bytes(self.held)
        self.held.clear()
        self.releases += 1
        return out
