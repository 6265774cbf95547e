"""Reconnection delays: capped exponential backoff with full jitter, or a fixed delay.

Full jitter is the scheme from the AWS Architecture Blog post "Exponential Backoff And
Jitter" (Marc Brooker, 2015): ``sleep = random_between(0, min(cap, base * 2 ** attempt))``.
Spreading every wait over the whole window keeps clients that lost the server at the same
moment from coming back at the same moment.

For SSE, a server-sent ``retry`` field is honoured the way a browser's ``EventSource``
does: WHATWG HTML 9.2.3 "reestablish the connection" says to "Wait a delay equal to the
reconnection time of the event source", then "Optionally, wait some more". Use
:meth:`Backoff.for_sse_retry`, which waits exactly that long and adds no jitter.

Pure: this module computes delays; sleeping is the caller's job.
"""

from __future__ import annotations

import math
import random

__all__ = ["Backoff"]


class Backoff:
    """Hands out the delay, in seconds, to wait before each reconnection attempt.

    Attempt ``k`` (counting from 0 since the last :meth:`reset`) waits a uniformly random
    time in ``[0, min(cap_s, base_s * factor ** k)]``. Call :meth:`reset` once a connection
    succeeds so the next outage starts from ``base_s`` again. Pass a seeded
    ``random.Random`` for reproducible delays.
    """

    __slots__ = ("_attempts", "_base_s", "_cap_s", "_ceiling_s", "_factor", "_jitter", "_rng")

    def __init__(
        self,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        """Raise ``ValueError`` unless base_s >= 0, cap_s >= 0 and factor >= 1, all finite."""
        _require_finite(base_s=base_s, cap_s=cap_s, factor=factor)
        if base_s < 0 or cap_s < 0:
            raise ValueError(f"delays must not be negative, got {base_s=} {cap_s=}")
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor=}")
        self._base_s = base_s
        self._cap_s = cap_s
        self._factor = factor
        self._rng = rng if rng is not None else random.Random()
        self._jitter = True
        self._attempts = 0
        self._ceiling_s = min(cap_s, base_s)

    @classmethod
    def fixed(cls, delay_s: float) -> Backoff:
        """Return a backoff whose every :meth:`next_delay` is exactly ``delay_s`` seconds."""
        backoff = cls(base_s=delay_s, cap_s=delay_s, factor=1.0)
        backoff._jitter = False
        return backoff

    @classmethod
    def for_sse_retry(cls, retry_ms: int) -> Backoff:
        """Return a fixed backoff of the server's SSE ``retry`` time, no jitter added.

        ``retry_ms`` is :attr:`client.sse_parser.EventStreamParser.retry_ms`: a
        non-negative count of milliseconds, as the spec only accepts ASCII digits.
        """
        if retry_ms < 0:
            raise ValueError(f"retry_ms must not be negative, got {retry_ms=}")
        return cls.fixed(retry_ms / 1000)

    @property
    def attempts(self) -> int:
        """How many delays :meth:`next_delay` has handed out since the last reset."""
        return self._attempts

    def next_delay(self) -> float:
        """Return the delay in seconds before the next attempt, and count that attempt."""
        ceiling_s = self._ceiling_s
        # Grow the window step by step rather than computing factor ** attempts, which
        # would overflow after about a thousand attempts; once at the cap it stays there.
        self._ceiling_s = min(self._cap_s, ceiling_s * self._factor)
        self._attempts += 1
        if not self._jitter:
            return ceiling_s
        # "Full Jitter": sleep = random_between(0, min(cap, base * 2 ** attempt))
        return self._rng.uniform(0.0, ceiling_s)

    def reset(self) -> None:
        """Start over from the first attempt, e.g. after a connection succeeded."""
        self._attempts = 0
        self._ceiling_s = min(self._cap_s, self._base_s)


def _require_finite(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
