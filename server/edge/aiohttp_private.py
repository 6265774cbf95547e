"""The only code here that relies on aiohttp's internals, pinned to the version it is tested
with (`TESTED_AIOHTTP`; tests/server/test_edge.py fails on any other minor version, so an
upgrade is a deliberate step, not a surprise in production).

aiohttp answers a request it cannot parse (a bad request line or header, a head over 8190
bytes, a body encoding it cannot decode) itself, before any middleware: with a plain-text
400 that quotes the client's bytes back, and an error with a traceback in the log.
`JsonErrorRequestHandler` answers those with the JSON body every other error has, logs one
line, and counts them in `/api/stats` `refused` as `bad_request`. It overrides three methods
of aiohttp's `RequestHandler` that are not documented API (`handle_error`,
`finish_response`, `log_exception`), and `handler_options` reads the handler options a
`web.Server` keeps in its private `_kwargs`.

`frame_writer` hands a WebSocket connection aiohttp's frame writer (the response's private
`_writer`), so that a message is sent one coroutine call deep instead of two: measured side
by side, the WebSocket echo then costs the server 0.93-0.95x the CPU per message.

`SelfContainedDeflateResponse` makes aiohttp's WebSocket handshake answer
`server_no_context_takeover` (it overrides the undocumented `_handshake`), so that one
compressed frame per publish can serve every subscriber of a room (server/wire/fanout.py).

`skip_current_app_fix` leaves out the middleware aiohttp appends to every app's own
(`_fix_request_current_app`), which only matters for sub-applications (this app has none)
and costs a coroutine frame per request.
"""

import logging
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError, LineTooLong
from aiohttp.http_websocket import WebSocketWriter, ws_ext_gen
from multidict import CIMultiDict

from server.core.refusals import Reason
from server.request_head import report_request_head

logger = logging.getLogger(__name__)

# The aiohttp minor version whose internals this module was written against and tested on.
TESTED_AIOHTTP = (3, 14)

Refuse = Callable[[str], None]  # counts a refusal by its reason


def aiohttp_minor() -> tuple[int, int]:
    """The installed aiohttp's (major, minor) version."""
    major, minor = aiohttp.__version__.split(".")[:2]
    return int(major), int(minor)


def describe_bad_request(exc: BaseException | None, message: str | None) -> str:
    """What was wrong with a request aiohttp could not parse, without echoing its bytes."""
    if isinstance(exc, ContentEncodingError):
        return "malformed request: the body could not be decoded with its Content-Encoding"
    if isinstance(exc, LineTooLong):
        return f"malformed request: a request line or header is longer than {exc.args[1]} bytes"
    if isinstance(exc, HttpProcessingError):
        message = exc.message
    first_line = (message or "").strip().splitlines()[0:1]
    what = first_line[0].rstrip(":").strip() if first_line else ""
    return f"malformed request: {what}" if what else "malformed request"


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, with its own error responses in this server's format."""

    __slots__ = ("_refuse",)

    def __init__(self, manager: web.Server, *, refuse: Refuse, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._refuse = refuse

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A JSON error for a request that could not be parsed (400) or handled (5xx)."""
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            text = "internal server error" if status == 500 else HTTPStatus(status).phrase.lower()
        else:
            self._refuse(Reason.BAD_REQUEST)
            text = describe_bad_request(exc, message)
            logger.info("%s: %d %s", request.remote, status, text)
        if request.writer.output_size > 0:  # a response has begun: too late for another
            raise ConnectionError("response already started; cannot send an error response")
        response = web.json_response({"error": text}, status=status)
        response.force_close()
        _report_head_if_routed(request, response)
        return response

    def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> Coroutine[Any, Any, tuple[web.StreamResponse, bool]]:
        """Send `resp`; an HTTP error raised where no middleware runs (aiohttp's answer to an
        `Expect` header it does not know, 417) gets the JSON body too.

        Not a coroutine itself: it returns aiohttp's, so that every response does not pay
        for a second coroutine frame."""
        if isinstance(resp, web.HTTPException) and resp.status >= 400 and not resp.prepared:
            text = resp.text if resp.text else resp.reason
            logger.info("%s %s -> %d %s", request.method, request.path, resp.status, text)
            resp = web.json_response({"error": text}, status=resp.status)
            _report_head_if_routed(request, resp)
        return super().finish_response(request, resp, start_time)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """Log an error with its traceback, unless it is the client's: after a body that
        could not be decoded (answered 400 by the handler), aiohttp meets the same error
        again while draining the rest of it."""
        exc = kw.get("exc_info")
        if isinstance(exc, web.RequestPayloadError | HttpProcessingError):
            logger.info("a client's request body could not be read: %s", exc)
            return
        super().log_exception(*args, **kw)


def _report_head_if_routed(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """`X-Request-Head-Bytes` on an error aiohttp answers itself, as on every response of a
    request that reached the router (one that could not be parsed never did)."""
    if getattr(request, "_match_info", None) is not None:
        report_request_head(request, response)


def skip_current_app_fix(app: web.Application) -> None:
    """Leave out aiohttp's last middleware, `_fix_request_current_app`, for a frozen `app`
    (after `runner.setup()`) without sub-applications.

    It sets `request.match_info.current_app` to the app whose middlewares run and back,
    which for an app without sub-applications is the app the router already set: one
    coroutine frame per request, to no effect. Anything unexpected leaves it in place.
    """
    handlers = app._middlewares_handlers
    if not app.frozen or app._subapps or not handlers or len(handlers) < 2:
        return
    last, _new_style = handlers[-1]
    if getattr(last, "__qualname__", "") == "_fix_request_current_app.<locals>.impl":
        app._middlewares_handlers = tuple(handlers[:-1])


def handler_options(server: web.Server) -> dict[str, Any]:
    """The options `server()` gives each connection's handler: the runner's handler options,
    e.g. keepalive_timeout and access_log (kept in the private `server._kwargs`)."""
    return dict(server._kwargs)


def frame_writer(response: web.WebSocketResponse) -> WebSocketWriter:
    """The writer a prepared WebSocket response sends its frames with.

    `send_str` and `send_bytes` check their argument and call its `send_frame`; called
    directly, the send is one coroutine shorter. A prepared response keeps its writer for
    life (aiohttp never replaces it), so a connection may hold it."""
    writer = response._writer
    if writer is None:
        raise RuntimeError("the WebSocket response is not prepared")
    return writer


class SelfContainedDeflateResponse(web.WebSocketResponse):
    """A WebSocket response whose compressed messages never refer to earlier ones.

    With permessage-deflate as browsers offer it, the server compresses every message with
    what it sent before as the dictionary ("context takeover"), so the bytes of one message
    differ from connection to connection and a room would compress each message once per
    subscriber. RFC 7692 §7.1.1.1 lets a server answer `server_no_context_takeover` even
    when the client did not ask for it; every compressed message is then self-contained and
    the same bytes serve every connection that negotiated the same window size. The price
    is a little compression on repetitive traffic, which a room of short, different
    messages hardly has; `/ws/echo` keeps aiohttp's default.
    """

    def _handshake(
        self, request: web.BaseRequest
    ) -> tuple["CIMultiDict[str]", str | None, int, bool]:
        headers, protocol, compress, notakeover = super()._handshake(request)
        if compress and not notakeover:
            headers[hdrs.SEC_WEBSOCKET_EXTENSIONS] = ws_ext_gen(
                compress=compress, isserver=True, server_notakeover=True
            )
            notakeover = True  # aiohttp's own writer then resets its dictionary per message
        return headers, protocol, compress, notakeover


def self_contained_deflate_window(response: web.WebSocketResponse) -> int:
    """The window bits (9-15) of a prepared response that compresses every message on its
    own (`SelfContainedDeflateResponse` that negotiated permessage-deflate); 0 otherwise."""
    if isinstance(response, SelfContainedDeflateResponse):
        return int(response.compress)
    return 0
