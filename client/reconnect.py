"""Waiting before reconnection attempts, and telling the user what is going on.

The delays come from `client.backoff.Backoff` (capped exponential backoff with full jitter);
this module adds the sleeping, the attempt limit and the state reports that `ws`, `sse` and
`room` print ("connection lost ... reconnecting in 1.3 s (attempt 2)").
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from client.backoff import Backoff
from client.errors import ConnectionLost

__all__ = ["Reconnector", "StateReport", "quiet"]


class StateReport(Protocol):
    """Receives connection states; `client.output.Output.state` is one."""

    def __call__(self, state: str, text: str, /, **fields: Any) -> None:
        """Report `state` (a short word) with a sentence for people and fields for scripts."""


def quiet(state: str, text: str, /, **fields: Any) -> None:
    """A `StateReport` that reports nothing (used by bench, which has its own progress)."""


class Reconnector:
    """Sleeps before each reconnection attempt and counts attempts and reconnections.

    Call :meth:`wait` before every attempt and :meth:`connected` after a success (which
    resets the backoff). With ``max_attempts`` set, the attempt after the last allowed one
    raises `ConnectionLost` instead of waiting.
    """

    def __init__(
        self, backoff: Backoff, report: StateReport = quiet, max_attempts: int | None = None
    ) -> None:
        self._backoff = backoff
        self._report = report
        self._max_attempts = max_attempts
        self.reconnects = 0
        self.attempts = 0  # every attempt, successful or not
        self.attempt = 0  # attempts waited for since the last success
        self._waiting = False

    async def wait(self, reason: str, *, floor_s: float = 0.0, backoff: bool = True) -> None:
        """Report `reason` and sleep `floor_s` plus (if `backoff`) the next backoff delay.

        `floor_s` is a delay the server asked for (SSE `retry:`); the backoff part grows
        while attempts keep failing. Raises `ConnectionLost` once the attempts run out.
        """
        if self._max_attempts is not None and self.attempt >= self._max_attempts:
            raise ConnectionLost(f"{reason}; gave up after {self.attempt} reconnection attempts")
        self.attempt += 1
        self.attempts += 1
        delay = floor_s + (self._backoff.next_delay() if backoff else 0.0)
        self._waiting = True
        self._report(
            "reconnecting",
            f"{reason}; reconnecting in {delay:.1f} s (attempt {self.attempt})",
            reason=reason,
            delay_s=round(delay, 3),
            attempt=self.attempt,
        )
        await asyncio.sleep(delay)  # the backoff delay itself, not synchronisation

    def connected(self) -> None:
        """Record a successful (re)connection: the next outage starts from the base delay."""
        if self._waiting:
            self.reconnects += 1
            self._waiting = False
        self.attempt = 0
        self._backoff.reset()
