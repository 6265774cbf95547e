"""Per-request timings from aiohttp's tracing hooks: connect time, first byte, reuse.

Pass a `RequestTiming` as ``trace_request_ctx=`` to a request made on a session built with
`timing_trace()`; the hooks fill it in. Requests without one are not timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp

__all__ = ["RequestTiming", "timing_trace"]


@dataclass(slots=True)
class RequestTiming:
    """`time.perf_counter()` marks of one request; None for what did not happen."""

    started: float | None = None
    connect_started: float | None = None
    connect_ended: float | None = None
    reused_connection: bool = False
    headers_received: float | None = None

    @property
    def connect_ms(self) -> float | None:
        """Time to open a new TCP connection, or None if a kept-alive one was reused."""
        if self.connect_started is None or self.connect_ended is None:
            return None
        return (self.connect_ended - self.connect_started) * 1000

    def first_byte_ms(self) -> float | None:
        """From the start of the request until the response head arrived."""
        if self.started is None or self.headers_received is None:
            return None
        return (self.headers_received - self.started) * 1000


def _timing(context: SimpleNamespace) -> RequestTiming | None:
    timing = context.trace_request_ctx
    return timing if isinstance(timing, RequestTiming) else None


async def _on_request_start(_: Any, context: SimpleNamespace, __: Any) -> None:
    if timing := _timing(context):
        timing.started = time.perf_counter()


async def _on_connection_create_start(_: Any, context: SimpleNamespace, __: Any) -> None:
    if timing := _timing(context):
        timing.connect_started = time.perf_counter()


async def _on_connection_create_end(_: Any, context: SimpleNamespace, __: Any) -> None:
    if timing := _timing(context):
        timing.connect_ended = time.perf_counter()


async def _on_connection_reuseconn(_: Any, context: SimpleNamespace, __: Any) -> None:
    if timing := _timing(context):
        timing.reused_connection = True


async def _on_request_end(_: Any, context: SimpleNamespace, __: Any) -> None:
    if timing := _timing(context):
        timing.headers_received = time.perf_counter()


def timing_trace() -> aiohttp.TraceConfig:
    """A trace config that fills the `RequestTiming` passed as ``trace_request_ctx``."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_on_request_start)
    trace.on_connection_create_start.append(_on_connection_create_start)
    trace.on_connection_create_end.append(_on_connection_create_end)
    trace.on_connection_reuseconn.append(_on_connection_reuseconn)
    trace.on_request_end.append(_on_request_end)
    return trace
