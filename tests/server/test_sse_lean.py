"""What the memory savings of an event stream (server/wire/sse.py) must not change: its
response head, byte for byte (aiohttp-sse's headers, in its order, with this server's
`Cache-Control`, named by `istr`), and its ticks, whether a wait between them runs on the
stream's own timer (long waits) or on one of its own (short ones)."""

import asyncio

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiohttp_sse import EventSourceResponse

from client.sse_parser import EventStreamParser
from server.wire.sse import EVENT_STREAM_HEADERS, LONG_WAIT_S, LabEventStream
from tests.streams import read_events


def test_stream_headers_are_aiohttp_sses_with_ours() -> None:
    """A new aiohttp-sse that adds or renames a header shows up here, not on the wire."""
    theirs = EventSourceResponse().headers
    ours = LabEventStream(ping_interval=15, send_timeout=10).headers
    assert list(ours.keys()) == list(theirs.keys())
    assert {**theirs, "Cache-Control": "no-cache, no-transform"} == {**ours}
    assert list(EVENT_STREAM_HEADERS) == list(theirs.keys())


async def read_head(server: TestServer, request: bytes) -> list[bytes]:
    """The status line and header lines of the answer to a raw `request`."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    return head.split(b"\r\n")[:-2]


async def test_stream_head_on_the_wire(server: TestServer) -> None:
    request = b"GET /sse/stream?interval=60000 HTTP/1.1\r\nHost: lab\r\n\r\n"
    lines = await read_head(server, request)
    names = [line.split(b":", 1)[0] for line in lines[1:]]
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert lines[1:6] == [
        b"Content-Type: text/event-stream",
        b"Cache-Control: no-cache, no-transform",
        b"Connection: keep-alive",
        b"X-Accel-Buffering: no",
        b"X-Request-Head-Bytes: %d" % len(request),
    ]
    assert names[5:] == [b"Transfer-Encoding", b"Date", b"Server"]


async def test_head_request_gets_the_same_headers_without_a_stream(server: TestServer) -> None:
    request = b"HEAD /sse/stream HTTP/1.1\r\nHost: lab\r\n\r\n"
    lines = await read_head(server, request)
    assert lines[:5] == [
        b"HTTP/1.1 200 OK",
        b"Content-Type: text/event-stream",
        b"Cache-Control: no-cache, no-transform",
        b"X-Accel-Buffering: no",
        b"X-Request-Head-Bytes: %d" % len(request),
    ]


# A short wait, and a long one (the time left until the next tick is a little under the
# interval, so a long wait needs an interval above LONG_WAIT_S).
@pytest.mark.parametrize("interval_s", [LONG_WAIT_S / 4, LONG_WAIT_S * 1.5])
async def test_ticks_after_a_short_and_a_long_wait(
    server: TestServer, session: aiohttp.ClientSession, interval_s: float
) -> None:
    url = server.make_url(f"/sse/stream?count=2&interval={interval_s * 1000:.0f}")
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
        events = await read_events(resp, EventStreamParser())
    assert [event.last_event_id for event in events] == ["1", "2"]
