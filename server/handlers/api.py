"""Introspection: `/api/stats`, `/api/config`, `/healthz`, and the page at `/`."""

from aiohttp import web

from server import keys


async def stats(request: web.Request) -> web.Response:
    """Per-protocol counters, refusals by reason, and uptime."""
    snapshot = request.app[keys.METRICS].snapshot()
    snapshot["live_connections"] = len(request.app[keys.LIVE_CONNECTIONS])
    return web.json_response(snapshot)


async def config(request: web.Request) -> web.Response:
    """Every setting the server runs with, so a lab can see which knobs are turned."""
    return web.json_response(request.app[keys.SETTINGS].public)


async def rooms(request: web.Request) -> web.Response:
    """Every room with its last id, history size and subscribers per protocol."""
    infos = request.app[keys.HUB].rooms()
    return web.json_response({"rooms": [info.to_json() for info in infos]})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 `ok` while the server serves requests."""
    return web.Response(text="ok")


async def index(request: web.Request) -> web.FileResponse:
    """The comparison page."""
    return web.FileResponse(request.app[keys.SETTINGS].static_dir / "index.html")
