"""`sse`: subscribe to an event stream and print events as they arrive, like EventSource.

By default the source is the server's tick stream `GET /sse/stream?count=&interval=&size=`;
any other SSE path or URL works too (e.g. `/sse/room/lobby`). Reconnection is the browser's:
wait the server's `retry:` time, resend the last id as `Last-Event-ID`, stop on 204.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import aclosing

import aiohttp
from yarl import URL

from client.commands.common import latency_fields, latency_text, make_reconnector
from client.eventsource import EventSource
from client.output import Output
from client.sse_parser import ServerSentEvent
from client.urls import endpoint, resolve

__all__ = ["run"]


async def run(args: argparse.Namespace, session: aiohttp.ClientSession, out: Output) -> int:
    """Print events until the server sends 204, `--max-events` arrive, or Ctrl-C."""
    source = EventSource(
        session,
        _source_url(args),
        make_reconnector(args, out),
        report=out.state,
        last_event_id=args.last_event_id or "",
    )
    received = 0
    delays_ms: list[float] = []
    try:
        async with aclosing(source.events()) as events:
            async for event in events:
                received += 1
                delay_ms = _tick_delay_ms(event)
                if delay_ms is not None:
                    delays_ms.append(delay_ms)
                _show(out, event, delay_ms)
                if args.max_events and received >= args.max_events:
                    break
    finally:
        reconnector = source.reconnector
        # "in N attempt(s)": an attempt the server answers with 204 (no more events) is not a
        # reconnection, but the user saw it announced as "reconnecting ... (attempt 1)".
        lines = [
            f"received {received} event(s), reconnected {reconnector.reconnects} time(s) in "
            f"{reconnector.attempts} attempt(s), "
            f"last event id {source.parser.last_event_id or '(none)'}"
        ]
        if delays_ms:
            lines.append(latency_text(delays_ms, "delay since server ts"))
        out.summary(
            lines,
            events=received,
            reconnects=reconnector.reconnects,
            reconnect_attempts=reconnector.attempts,
            last_event_id=source.parser.last_event_id or None,
            **latency_fields(delays_ms),
        )
    return 0


def _source_url(args: argparse.Namespace) -> URL:
    if args.source:
        return resolve(args.url, args.source)
    return endpoint(
        args.url, "/sse/stream", count=args.count, interval=args.interval, size=args.size
    )


def _tick_delay_ms(event: ServerSentEvent) -> float | None:
    """Receive time minus the server's `ts` for events that carry one (ticks, room messages).

    Meaningful when client and server share a clock, as on one machine.
    """
    try:
        payload = json.loads(event.data)
    except ValueError:
        return None
    ts = payload.get("ts") if isinstance(payload, dict) else None
    if not isinstance(ts, int | float):
        return None
    return time.time() * 1000 - ts


def _show(out: Output, event: ServerSentEvent, delay_ms: float | None) -> None:
    label = f"[{event.last_event_id}] " if event.last_event_id else ""
    late = f"  (+{delay_ms:.1f} ms)" if delay_ms is not None else ""
    out.record(
        "event",
        f"{label}{event.type}: {event.data}{late}",
        event=event.type,
        id=event.last_event_id or None,
        data=event.data,
        delay_ms=None if delay_ms is None else round(delay_ms, 3),
    )
