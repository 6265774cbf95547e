"""The route table: the whole public contract of the server on one screen (docs/api.md)."""

from aiohttp import web

from server.handlers import api, http, sse, ws
from server.settings import Settings


def setup_routes(app: web.Application, settings: Settings) -> None:
    """Add every route of the server to `app`."""
    app.add_routes(
        [
            web.get("/ws/echo", ws.ws_echo),
            web.get("/ws/stream", ws.ws_stream),
            web.get("/ws/room/{room}", ws.ws_room),
            web.get("/sse/stream", sse.sse_stream),
            web.get("/sse/room/{room}", sse.sse_room),
            web.get("/http/echo", http.http_echo_get),
            web.post("/http/echo", http.http_echo_post),
            web.get("/http/tick", http.http_tick),
            web.post("/http/room/{room}", http.http_room_post),
            web.get("/http/room/{room}", http.http_room_get),
            web.get("/api/stats", api.stats),
            web.get("/api/config", api.config),
            web.get("/api/rooms", api.rooms),
            web.get("/healthz", api.healthz),
            web.get("/_netem", api.no_netem),  # the netem proxy answers it in front of us
            web.get("/", api.index),
            # Not `add_static`: its missing files are bare 404s without the JSON body, and
            # its directories 403s. `static_file` refuses paths that leave the folder.
            web.get("/static/{path:.+}", api.static_file),
            web.get("/docs/{path:.+}", api.doc_file),
            web.get("/favicon.ico", api.favicon),
        ]
    )
