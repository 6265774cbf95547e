"""`http`: one plain request/response to `/http/echo` (or another path), timed.

Each request is a request line and headers up, a status line and headers down, and the body;
the connection is kept alive between requests (`--count`), so only the first one pays for
the TCP connection. The timings come from aiohttp's tracing hooks.
"""

from __future__ import annotations

import argparse
import base64
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from yarl import URL

from client import messages
from client.commands.common import latency_fields, latency_text
from client.errors import ClientError, describe
from client.output import Output
from client.timing import RequestTiming
from client.urls import resolve

__all__ = ["run"]

_BODY_PREVIEW = 2000


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its response, as measured."""

    method: str
    url: URL
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    total_ms: float
    timing: RequestTiming


async def run(args: argparse.Namespace, session: aiohttp.ClientSession, out: Output) -> int:
    """Send the request `--count` times; exit status 1 if any response is 4xx/5xx."""
    url = _target(args)
    body = _body(args)
    method = args.method or ("POST" if body is not None else "GET")
    totals_ms: list[float] = []
    failed = 0
    try:
        for index in range(args.count):
            exchange = await request(session, method, url, body, args.content_type)
            totals_ms.append(exchange.total_ms)
            failed += exchange.status >= 400
            _show(out, exchange, show_body=index == 0 or out.json_mode, headers=args.include)
    finally:
        if args.count > 1:
            out.summary(
                [f"{len(totals_ms)} request(s), {failed} failed", latency_text(totals_ms, "time")],
                requests=len(totals_ms),
                failed=failed,
                **latency_fields(totals_ms),
            )
    return 1 if failed else 0


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    body: bytes | None,
    content_type: str,
) -> Exchange:
    """Make one request and read the whole response; raises `ClientError` on network errors."""
    timing = RequestTiming()
    headers = {"Content-Type": content_type} if body is not None else None
    started = time.perf_counter()
    try:
        async with session.request(
            method, url, data=body, headers=headers, trace_request_ctx=timing
        ) as response:
            data = await response.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ClientError(f"{method} {url}: {describe(exc)}") from None
    return Exchange(
        method=method,
        url=url,
        status=response.status,
        reason=response.reason or "",
        headers=list(response.headers.items()),
        body=data,
        total_ms=(time.perf_counter() - started) * 1000,
        timing=timing,
    )


def _target(args: argparse.Namespace) -> URL:
    url = resolve(args.url, args.path)
    if args.query:
        url = url.update_query([tuple(item.split("=", 1)) for item in args.query])
    return url


def _body(args: argparse.Namespace) -> bytes | None:
    data: str | None = args.data
    path: Path | None = args.file
    if data is not None:
        return data.encode()
    if path is not None:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
    if args.size is not None:
        return messages.text_payload(args.size).encode()
    return None


def _connection_text(timing: RequestTiming) -> str:
    if timing.reused_connection:
        return "kept-alive connection"
    if timing.connect_ms is not None:
        return f"new connection, connect {timing.connect_ms:.2f} ms"
    return "new connection"


def _show(out: Output, exchange: Exchange, *, show_body: bool, headers: bool) -> None:
    content_type = next(
        (value for name, value in exchange.headers if name.lower() == "content-type"), ""
    )
    first_byte = exchange.timing.first_byte_ms()
    fields: dict[str, object] = {
        "method": exchange.method,
        "url": str(exchange.url),
        "status": exchange.status,
        "reason": exchange.reason,
        "ms": round(exchange.total_ms, 3),
        "first_byte_ms": None if first_byte is None else round(first_byte, 3),
        "connect_ms": (
            None if exchange.timing.connect_ms is None else round(exchange.timing.connect_ms, 3)
        ),
        "reused_connection": exchange.timing.reused_connection,
        "content_type": content_type,
        "bytes": len(exchange.body),
        "headers": dict(exchange.headers),
    }
    try:
        fields["body"] = exchange.body.decode()
    except UnicodeDecodeError:
        fields["body_base64"] = base64.b64encode(exchange.body).decode()
    lines = [
        f"{exchange.method} {exchange.url} -> {exchange.status} {exchange.reason} "
        f"in {exchange.total_ms:.2f} ms ({_connection_text(exchange.timing)})"
    ]
    if headers:
        lines += [f"{name}: {value}" for name, value in exchange.headers]
    if show_body:
        lines.append(f"{content_type or 'no content type'}, {len(exchange.body)} bytes")
        if exchange.body:
            lines.append(_preview(exchange.body))
    out.record("response", "\n".join(lines), **fields)


def _preview(body: bytes) -> str:
    text = body.decode(errors="replace")
    if len(text) <= _BODY_PREVIEW:
        return text
    return f"{text[:_BODY_PREVIEW]}… ({len(body)} bytes in all)"
