"""`client.eventsource` against scripted servers: what EventSource does, per WHATWG HTML 9.2."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from client.backoff import Backoff
from client.errors import ConnectionLost, ProtocolFailure
from client.eventsource import EventSource
from client.reconnect import Reconnector
from client.sse_parser import ServerSentEvent
from tests.processes import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse] | web.StreamResponse]


async def stream(request: web.Request, body: bytes) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(body)
    await response.write_eof()
    return response


@pytest.fixture
def scripted(
    aiohttp_server: Any,
) -> Callable[[list[Handler]], Awaitable[tuple[TestServer, list[web.Request]]]]:
    """A server answering its n-th request with the n-th handler, and the requests seen."""

    async def start(handlers: list[Handler]) -> tuple[TestServer, list[web.Request]]:
        seen: list[web.Request] = []

        async def dispatch(request: web.Request) -> web.StreamResponse:
            seen.append(request)
            answer = handlers[len(seen) - 1](request)
            return await answer if inspect.isawaitable(answer) else answer

        app = web.Application()
        app.router.add_get("/events", dispatch)
        server: TestServer = await aiohttp_server(app)
        return server, seen

    return start


async def collect(server: TestServer, **options: Any) -> tuple[list[ServerSentEvent], list[str]]:
    states: list[str] = []

    def report(state: str, text: str, /, **fields: Any) -> None:
        states.append(state)

    async with aiohttp.ClientSession() as session:
        source = EventSource(
            session,
            server.make_url("/events"),
            Reconnector(Backoff(base_s=0.01, cap_s=0.05), report),
            report=report,
            **options,
        )
        async with aclosing(source.events()) as events:
            return [event async for event in events], states


async def test_reconnects_with_last_event_id_after_retry_then_stops_on_204(scripted: Any) -> None:
    server, seen = await scripted(
        [
            lambda r: stream(r, b"retry: 10\n\nid: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: cut"),
            lambda r: stream(r, b"id: 3\r\ndata: c\r\n\r\n"),
            lambda r: web.Response(status=204),
        ]
    )
    events, states = await collect(server)
    assert [(e.data, e.last_event_id) for e in events] == [("a", "1"), ("b", "2"), ("c", "3")]
    assert [r.headers.get("Last-Event-ID") for r in seen] == [None, "2", "3"]
    assert all(r.headers["Accept"] == "text/event-stream" for r in seen)
    assert states.count("reconnecting") == 2
    assert states[-1] == "closed"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda r: web.Response(status=500, text="boom"), id="status-500"),
        pytest.param(lambda r: web.Response(status=503, text="full"), id="status-503"),
        pytest.param(lambda r: web.Response(text="data: x\n\n"), id="wrong-content-type"),
    ],
)
async def test_other_answers_fail_the_connection_without_retrying(
    scripted: Any, answer: Handler
) -> None:
    server, seen = await scripted([lambda r: stream(r, b"retry: 10\nid: 1\ndata: a\n\n"), answer])
    with pytest.raises(ProtocolFailure):
        await collect(server)
    assert len(seen) == 2


async def test_first_connection_failure_is_reported_not_retried() -> None:
    async with aiohttp.ClientSession() as session:
        source = EventSource(
            session,
            URL(f"http://127.0.0.1:{free_port()}/events"),
            Reconnector(Backoff(0.01, 0.05)),
        )
        with pytest.raises(ConnectionLost, match="connection refused"):
            await source.open()


async def test_without_retry_field_waits_the_default(scripted: Any) -> None:
    server, _ = await scripted([lambda r: web.Response(status=204)])
    async with aiohttp.ClientSession() as session:
        source = EventSource(session, server.make_url("/events"), Reconnector(Backoff()))
        assert source.retry_s == 3.0  # Chromium's default reconnection time
        assert [e async for e in source.events()] == []
