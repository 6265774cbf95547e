"""`X-Request-Head-Bytes` on every response: the size of the request head as it arrived.

A web page cannot see the request line and headers its browser sends (`fetch()` and Resource
Timing hide them), so without help the comparison page could only call that part of HTTP's
overhead "not visible". The server has parsed that head, so it reports its size: the request
line and one `Name: value` line per header, each ending in CRLF, and the blank line
(RFC 9112 §2.1, §3, §5). A header written without the space after its colon would be counted
one byte too long; browsers always send the space.
"""

from aiohttp import web

HEADER = "X-Request-Head-Bytes"


def request_head_bytes(request: web.BaseRequest) -> int:
    """Bytes of the request line, the header lines and the blank line that ends them."""
    version = request.version
    line = f"{request.method} {request.raw_path} HTTP/{version.major}.{version.minor}\r\n"
    line_bytes = len(line) if line.isascii() else len(line.encode())  # once per response
    headers = request.raw_headers
    fields = sum(len(name) + len(value) for name, value in headers) + len(b": \r\n") * len(headers)
    return line_bytes + fields + len(b"\r\n")


async def report_request_head(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: add the header to the response about to go out."""
    response.headers[HEADER] = str(request_head_bytes(request))
