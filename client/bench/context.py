"""What every scenario gets: the session, the options, progress, warnings, and the clock.

Also the guard against measuring the client instead of the server: `CpuMeter` compares the
process's CPU time with wall time while a row is measured. A Python client is one thread, so
near 100 % of one core it is the bottleneck, and the row says so.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from yarl import URL

from client.bench.results import BenchResult
from client.errors import ClientError
from client.progress import BenchProgress

__all__ = ["CPU_SATURATED_PCT", "BenchContext", "CpuMeter"]

T = TypeVar("T")
CPU_SATURATED_PCT = 90.0


@dataclass(slots=True)
class CpuMeter:
    """Client CPU use over a block, as a percentage of one core: ``with CpuMeter() as m:``."""

    _cpu_start: float = 0.0
    _wall_start: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def __enter__(self) -> CpuMeter:
        self._cpu_start, self._wall_start = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cpu_s = time.process_time() - self._cpu_start
        self.wall_s = time.perf_counter() - self._wall_start

    @property
    def percent(self) -> float:
        """CPU seconds per wall second, in percent of one core (0 before the block ends)."""
        return 100 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(slots=True)
class BenchContext:
    """The run's session, server URL, options, progress display, warnings and results.

    Scenarios append each row to `results` as soon as it is measured, so that an
    interrupted run (Ctrl-C) can still report what it has.
    """

    session: aiohttp.ClientSession
    base: URL
    args: argparse.Namespace
    progress: BenchProgress
    warnings: list[str] = field(default_factory=list)
    results: list[BenchResult] = field(default_factory=list)  # rows measured so far

    def warn(self, text: str) -> None:
        """Remember a warning; the runner prints them after the progress display is gone."""
        if text not in self.warnings:
            self.warnings.append(text)

    def check_cpu(self, label: str, meter: CpuMeter) -> float:
        """Warn if the client was saturated while measuring `label`; returns the percentage."""
        if meter.percent > CPU_SATURATED_PCT:
            self.warn(
                f"{label}: the client used {meter.percent:.0f}% of a CPU core, so it may have "
                "measured itself rather than the server; use fewer clients or messages, or "
                "run the client on another machine"
            )
        return round(meter.percent, 1)

    async def within_timeout(self, awaitable: Awaitable[T], what: str) -> T:
        """Await `awaitable`, or raise `ClientError` after `--timeout` seconds."""
        try:
            async with asyncio.timeout(self.args.timeout):
                return await awaitable
        except TimeoutError:
            raise ClientError(f"{what}: nothing within {self.args.timeout:g} s") from None
