"""The proxy's HTTP/1.1 framing: request heads found and rewritten, response ends found."""

from __future__ import annotations

from client.netem.http1 import ControlRequest, RequestScanner, ResponseTracker

WS_HEAD = (
    b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _bytes(pieces: list[bytes | ControlRequest]) -> bytes:
    return b"".join(p for p in pieces if isinstance(p, bytes))


def test_requests_pass_unchanged_byte_by_byte() -> None:
    stream = b"POST /http/echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + (
        b"GET /http/echo HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    scanner = RequestScanner()
    out = [
        p for i in range(len(stream)) for p in scanner.feed(stream[i : i + 1], strip_upgrade=False)
    ]
    assert _bytes(out) == stream


def test_strip_upgrade_removes_the_headers_and_counts() -> None:
    scanner = RequestScanner()
    out = _bytes(scanner.feed(WS_HEAD, strip_upgrade=True))
    assert b"upgrade" not in out.lower()
    assert b"Connection: keep-alive\r\n" in out
    assert b"Sec-WebSocket-Version: 13" in out
    assert scanner.stripped == 1
    assert not scanner.tunnel


def test_upgrade_kept_makes_a_tunnel() -> None:
    scanner = RequestScanner()
    frame = b"\x81\x85GET /_netem HTTP/1.1\r\n\r\n"  # opaque bytes that look like HTTP
    out = scanner.feed(WS_HEAD + frame, strip_upgrade=False)
    assert _bytes(out) == WS_HEAD + frame
    assert scanner.tunnel


def test_control_requests_are_taken_out_with_their_body() -> None:
    scanner = RequestScanner()
    body = b'{"preset": "lan"}'
    head = (
        b"POST /_netem HTTP/1.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    out = scanner.feed(head + body[:5], strip_upgrade=False)
    out += scanner.feed(body[5:] + b"GET / HTTP/1.1\r\n\r\n", strip_upgrade=False)
    control = [p for p in out if isinstance(p, ControlRequest)]
    assert control == [ControlRequest("POST", "/_netem", "application/json", body)]
    assert _bytes(out) == b"GET / HTTP/1.1\r\n\r\n"


def test_response_ends_content_length_and_chunked() -> None:
    tracker = ResponseTracker()
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    second = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    stream = first + second
    ends = [i + 1 for i in range(len(stream)) if tracker.feed(stream[i : i + 1])]
    assert ends == [len(first), len(stream)]


def test_an_endless_stream_never_ends_and_101_is_a_tunnel() -> None:
    tracker = ResponseTracker()
    sse = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert tracker.feed(sse + b"e\r\ndata: tick 1\n\n\r\n") == []
    upgraded = ResponseTracker()
    assert upgraded.feed(b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x00") == []
    assert upgraded.tunnel
