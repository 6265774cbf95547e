"""Errors become JSON `{"error": ...}` with the right status, in one place, for every route.

A `Refusal` (server/core/refusals.py) carries its status, its message for the user and the
reason it is counted under in `/api/stats` `refused`; it is mapped here, once, for HTTP.
aiohttp's own HTTP errors (404, 405, 413 ...) keep their status and get a sentence that says
what to do. Anything unexpected is logged with its traceback and answered with a bare 500:
a traceback never reaches the client. A client that left before its answer could be written
is not an error at all: it is counted in `/api/stats` `departed`.

`answer_error` is called by the `edge` middleware (server/edge/middlewares.py).
"""

import logging

from aiohttp import web

from server import keys
from server.core.refusals import Reason, Refusal

logger = logging.getLogger(__name__)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The JSON body every error of this server has."""
    return web.json_response({"error": message}, status=status, headers=headers)


def _describe(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no such resource: {request.path}"
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    if exc.status == 413:
        limit = request.app[keys.SETTINGS].http_max_body
        return f"request body is larger than the limit of {limit} bytes"
    default_text = f"{exc.status}: {exc.reason}"
    return exc.text if exc.text and exc.text != default_text else exc.reason


def answer_error(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The JSON answer to an error a handler raised (see the module docstring); an
    `HTTPException` below 400 (a redirect) is not an error and is raised again."""
    if isinstance(exc, Refusal):
        return _logged(request, refusal_response(request, exc))
    if isinstance(exc, ConnectionError):
        return departed(request)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        if exc.status == 413:
            request.app[keys.METRICS].refused(Reason.BODY_TOO_LARGE)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _logged(request, error_response(exc.status, _describe(request, exc), headers))
    logger.error("unexpected error in %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal server error")


def refusal_response(request: web.Request, refusal: Refusal) -> web.Response:
    """The HTTP answer to `refusal`, counted by its reason."""
    if refusal.reason is not None:
        request.app[keys.METRICS].refused(refusal.reason)
    return web.json_response(refusal.body(), status=refusal.status, headers=refusal.headers())


def departed(request: web.Request) -> web.Response:
    """The client left before its answer could be written (a reset, a half-closed socket
    aiohttp then closed): one line at debug level and a count in `/api/stats` `departed`.
    The answer returned goes nowhere; aiohttp notes the connection as gone."""
    request.app[keys.METRICS].departed()
    logger.debug("%s %s: the client left before its answer", request.method, request.path)
    return error_response(499, "client left")


def _logged(request: web.Request, response: web.Response) -> web.Response:
    logger.info("%s %s -> %d %s", request.method, request.path, response.status, response.text)
    return response
