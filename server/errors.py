"""Errors become JSON `{"error": ...}` with the right status, in one place, for every route.

Domain errors carry a message fit for the user (`ValidationError` -> 400,
`OriginRefused` -> 403, `RateLimited` -> 429, `RoomError` and
`ConnectionLimitReached` -> 503); aiohttp's own HTTP errors (404, 405, 413 ...) keep their
status and get a sentence that says what to do. Anything unexpected is logged with its
traceback and answered with a bare 500: a traceback never reaches the client.

Every refusal by a limit or a policy is also counted in `/api/stats` `refused`, by reason.
"""

import logging
import math

from aiohttp import web
from aiohttp.typedefs import Handler

from server import keys
from server.connections import ConnectionLimitReached
from server.core.origins import OriginRefused
from server.core.ratelimit import RateLimited
from server.core.rooms import RoomError, RoomLimitReached
from server.core.validation import ValidationError

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


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every error raised by a handler to a JSON response (see the module docstring)."""
    try:
        return await handler(request)
    except ValidationError as exc:
        return _logged(request, error_response(400, str(exc)))
    except OriginRefused as exc:
        request.app[keys.METRICS].refused("origin")
        return _logged(request, error_response(403, str(exc)))
    except RateLimited as exc:
        request.app[keys.METRICS].refused("rate_limit")
        # Retry-After takes whole seconds; the body carries the exact wait for clients
        # that can use it.
        retry = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        body = {"error": str(exc), "retry_after_s": round(exc.retry_after, 3)}
        return _logged(request, web.json_response(body, status=429, headers=retry))
    except RoomError as exc:
        if isinstance(exc, RoomLimitReached):
            request.app[keys.METRICS].refused("max_rooms")
        return _logged(request, error_response(503, str(exc), {"Retry-After": "1"}))
    except ConnectionLimitReached as exc:
        request.app[keys.METRICS].refused(exc.reason.value)
        return _logged(request, error_response(503, str(exc), {"Retry-After": "1"}))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            request.app[keys.METRICS].refused("body_too_large")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _logged(request, error_response(exc.status, _describe(request, exc), headers))
    except Exception:
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal server error")


def _logged(request: web.Request, response: web.Response) -> web.Response:
    logger.info("%s %s -> %d %s", request.method, request.path, response.status, response.text)
    return response
