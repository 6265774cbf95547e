"""The Origin check on WebSocket upgrades and state-changing requests (policy in
`server/core/origins.py`, where the attack it stops is described)."""

from aiohttp import hdrs, web

from server import keys
from server.forwarded import FORWARDED

# Methods a browser lets any page send cross-site without asking the server first, and that
# change nothing here. Everything else (POST ...) and every WebSocket upgrade is checked.
SAFE_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})


def needs_origin_check(request: web.Request) -> bool:
    """True for a WebSocket upgrade or a request that may change state."""
    upgrade = request.headers.get(hdrs.UPGRADE, "").strip().lower() == "websocket"
    return upgrade or request.method not in SAFE_METHODS


def local_port(request: web.Request) -> int | None:
    """The port this request arrived on, for "localhost on the server's own port"."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None


def check_origin(request: web.Request) -> None:
    """Refuse (`OriginRefused`, a 403) a foreign page's upgrade or POST before the handler;
    called by the `edge` middleware (server/edge/middlewares.py).

    A request without `Origin` (curl, scripts; no browser page) is always let through, so it
    is let through here before the policy's arguments are gathered.
    """
    if hdrs.ORIGIN in request.headers and needs_origin_check(request):
        forwarded = request.get(FORWARDED)  # behind a trusted proxy: what the browser used
        request.app[keys.ORIGIN_POLICY].check(
            request.headers.get(hdrs.ORIGIN),
            scheme=request.scheme,
            host=forwarded.host if forwarded else request.headers.get(hdrs.HOST),
            port=forwarded.port if forwarded else local_port(request),
        )
