"""The tick sources behind `/sse/stream`, `/ws/stream` and `/http/tick`.

Pushed streams (SSE, WebSocket) are numbered 1, 2, 3 ... up to `count` (0 = no end). The
numbering is a pure function of the request, so a client that reconnects with
`Last-Event-ID: k` resumes at `k + 1` on any server process: nothing is stored between
connections, and nothing is lost or sent twice.

Polling cannot be pushed to, so `/http/tick` reports the latest tick of a clock grid (tick n
happens at n * interval ms since the epoch); the delay a poller sees between a tick's `ts` and
its arrival is exactly the cost of polling.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass

from server.core.validation import ValidationError, parse_int_param

MAX_COUNT = 1_000_000
MAX_INTERVAL_MS = 60_000
MAX_PAD = 1024 * 1024
# The largest tick id a client may resume after (as `after` on /ws/stream and /http/tick).
MAX_TICK_ID = 2**62


@dataclass(frozen=True, slots=True)
class TickParams:
    """What a client asked for: how many ticks (0 = unbounded), how often, how much padding."""

    count: int = 0
    interval_ms: int = 1000
    size: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "TickParams":
        """Parse `count`, `interval` and `size`; raises `ValidationError` saying what is wrong."""
        return cls(
            count=parse_int_param(
                "count", query.get("count"), default=0, minimum=0, maximum=MAX_COUNT
            ),
            interval_ms=parse_int_param(
                "interval", query.get("interval"), default=1000, minimum=0, maximum=MAX_INTERVAL_MS
            ),
            size=parse_int_param("size", query.get("size"), default=0, minimum=0, maximum=MAX_PAD),
        )

    def is_finished(self, seq: int) -> bool:
        """True once tick `seq` would be past the end of a finite stream."""
        return self.count > 0 and seq > self.count


def first_tick(last_event_id: str | None) -> int:
    """The first tick to send: 1 for a new stream, `k + 1` when resuming after id `k`.

    Raises `ValidationError` for an id this server never sends (not a non-negative integer).
    """
    if last_event_id is None or last_event_id == "":
        return 1
    # At most 18 digits: int() of thousands of digits is slow, and refused past 4300.
    if len(last_event_id) > 18 or not last_event_id.isascii() or not last_event_id.isdigit():
        shown = last_event_id if len(last_event_id) <= 40 else last_event_id[:39] + "…"
        raise ValidationError(
            f"Last-Event-ID must be a tick number this server sent (0 to {MAX_TICK_ID}), "
            f"got {shown!r}"
        )
    value = int(last_event_id)
    if value > MAX_TICK_ID:
        raise ValidationError(
            f"Last-Event-ID must be a tick number this server sent (0 to {MAX_TICK_ID}), "
            f"got {last_event_id!r}"
        )
    return value + 1


def tick_payload(seq: int, size: int, timestamp: int | None = None) -> dict[str, object]:
    """The JSON body of tick `seq`: its number, its time (default: now) and `size` pad chars."""
    return {"seq": seq, "ts": now_ms() if timestamp is None else timestamp, "pad": "x" * size}


class TickText:
    """The JSON text of ticks of one stream, `tick_payload` encoded as compact JSON.

    A stream's ticks differ only in `seq` and `ts`, so the pad and the field names are
    formatted once per stream and each tick formats two integers: the same bytes as
    `json.dumps(tick_payload(seq, size), separators=(",", ":"))`, for a fraction of the cost.
    """

    __slots__ = ("_tail",)

    def __init__(self, size: int) -> None:
        self._tail = f',"pad":"{"x" * size}"}}'

    def __call__(self, seq: int, timestamp: int | None = None) -> str:
        """Tick `seq` at `timestamp` ms (default: now)."""
        ts = now_ms() if timestamp is None else timestamp
        return f'{{"seq":{seq},"ts":{ts}{self._tail}'


def now_ms() -> int:
    """Server time in milliseconds since the epoch, as in every `ts` field."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class GridTick:
    """A tick of the clock grid used by polling: tick `seq` happens at `seq * interval` ms."""

    seq: int
    ts: int

    @classmethod
    def at(cls, when_ms: int, interval_ms: int) -> "GridTick":
        """The latest grid tick at or before `when_ms`."""
        seq = when_ms // interval_ms
        return cls(seq, seq * interval_ms)

    @classmethod
    def after(cls, seq: int, interval_ms: int) -> "GridTick":
        """The grid tick that follows tick `seq`."""
        return cls(seq + 1, (seq + 1) * interval_ms)
