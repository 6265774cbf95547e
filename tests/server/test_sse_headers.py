"""An event stream's response head, byte for byte: aiohttp-sse's headers, in its order, with
this server's `Cache-Control` (server/wire/sse.py names them by `istr` to save memory)."""

import asyncio

from aiohttp.test_utils import TestServer
from aiohttp_sse import EventSourceResponse

from server.wire.sse import EVENT_STREAM_HEADERS, LabEventStream


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
