"""Requests forwarded by a trusted reverse proxy are seen as the client sent them
(`--trusted-proxies`; who is believed, and why, is in `server/core/forwarded.py`).

The middleware replaces the request by a clone whose `remote`, `scheme` and `host` are the
client's address, `https` and the browser's `Host`. Everything after it then works behind
the proxy unchanged: per-address connection limits and rate limits count clients, not the
proxy; the Origin check compares the page's `https://` origin with the address the browser
used; logs name the client. Requests from any other peer pass through untouched, and with
no proxy listed the middleware costs one lookup per request.
"""

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from server import keys
from server.core.forwarded import ForwardedView

# What the proxy said, on forwarded requests only: the Origin check takes the browser's
# Host and port from it ("localhost on the server's own port" means the proxy's port).
FORWARDED = web.RequestKey("forwarded", ForwardedView)


@web.middleware
async def trust_forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hand on a clone of `request` as its client sent it, if a trusted proxy forwarded it."""
    proxies = request.app[keys.TRUSTED_PROXIES]
    if not proxies:
        return await handler(request)
    view = proxies.resolve(
        request.remote,
        request.headers.getall(hdrs.X_FORWARDED_FOR, ()),
        request.headers.getall(hdrs.X_FORWARDED_PROTO, ()),
        request.headers.getall(hdrs.X_FORWARDED_HOST, ()),
    )
    if view is None:
        return await handler(request)
    seen = request.clone(
        remote=view.remote,
        scheme=view.scheme or request.scheme,
        host=view.host or request.host,
    )
    seen[FORWARDED] = view
    return await handler(seen)
