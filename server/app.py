"""`create_app(settings)`: the application, assembled. Reads like a table of contents."""

from aiohttp import web

from server import keys
from server.connections import LiveConnections
from server.core.metrics import Metrics
from server.errors import json_errors
from server.routes import setup_routes
from server.settings import Settings


def create_app(settings: Settings | None = None) -> web.Application:
    """Build the Protocol Lab application; nothing runs until it is served."""
    settings = settings or Settings()
    app = web.Application(middlewares=[json_errors], client_max_size=settings.http_max_body)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app[keys.LIVE_CONNECTIONS] = LiveConnections(settings.max_connections)
    setup_routes(app, settings)
    app.on_shutdown.append(_say_goodbye)
    return app


async def _say_goodbye(app: web.Application) -> None:
    """On shutdown: WebSockets get 1001 (going away), SSE streams end."""
    await app[keys.LIVE_CONNECTIONS].close_all()
