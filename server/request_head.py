"""`X-Request-Head-Bytes` on every response: the size of the request head as it arrived.

A web page cannot see the request line and headers its browser sends (`fetch()` and Resource
Timing hide them), so without help the comparison page could only call that part of HTTP's
overhead "not visible". The server has parsed that head, so it reports its size: the request
line and one `Name: value` line per header, each ending in CRLF, and the blank line
(RFC 9112 §2.1, §3, §5). A header written without the space after its colon would be counted
one byte too long; browsers always send the space.
"""

from aiohttp import web
from multidict import istr

HEADER = istr("X-Request-Head-Bytes")
# After the method and the target: " HTTP/1.1\r\n"; aiohttp's parsers accept a single digit
# on each side of the dot, so this part is the same size in every request.
_SPACE_VERSION_CRLF = len(" HTTP/1.1\r\n")
_FIELD_FRAMING = len(b": \r\n")  # beside each header's name and value
_HEAD_END = len(b"\r\n")


def request_head_bytes(request: web.BaseRequest) -> int:
    """Bytes of the request line, the header lines and the blank line that ends them."""
    target = request.raw_path  # the method and the version are ASCII; a target may not be
    size = len(request.method) + 1 + (len(target) if target.isascii() else len(target.encode()))
    headers = request.raw_headers
    # A plain loop: once per response, and cheaper than sum() over a generator.
    for name, value in headers:
        size += len(name) + len(value)
    return size + _SPACE_VERSION_CRLF + _FIELD_FRAMING * len(headers) + _HEAD_END


def report_request_head(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Add the header to `response`, which is about to be prepared.

    Called where each response is prepared, not from aiohttp's `on_response_prepare` signal,
    which would cost a coroutine per response: by the `edge` middleware for the responses
    handlers return (server/edge/middlewares.py), by the WebSocket and SSE connections for
    the streams they prepare (server/wire/), and by the connection handler for the errors
    aiohttp answers itself once a request was routed (server/edge/aiohttp_private.py).
    """
    response.headers[HEADER] = str(request_head_bytes(request))
