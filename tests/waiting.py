"""Waiting for a condition the test cannot be notified of, with a deadline (never a guess)."""

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], limit_s: float = 5.0) -> None:
    """Return as soon as `condition()` is true; fail the test after `limit_s` seconds."""
    async with asyncio.timeout(limit_s):
        # The server offers no event for this (e.g. "a long-poll is parked"), so we check
        # its state often; the deadline, not a sleep, decides failure.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
