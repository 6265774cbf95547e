"""`create_app(settings)`: the application, assembled. Reads like a table of contents."""

from aiohttp import web

from server import keys
from server.connections import LiveConnections
from server.core.forwarded import TrustedProxies
from server.core.metrics import Metrics
from server.core.origins import OriginPolicy
from server.core.process import ProcessInfo
from server.core.ratelimit import RateLimiterPool
from server.core.refusals import Reason
from server.core.rooms import DropReason, InMemoryHub, RoomHub, Subscription
from server.edge.middlewares import middlewares_for
from server.routes import setup_routes
from server.settings import Settings


def create_app(
    settings: Settings | None = None, process: ProcessInfo | None = None
) -> web.Application:
    """Build the Protocol Lab application; nothing runs until it is served.

    `process` says which of `--workers` processes this is (for `/api/stats`).
    """
    settings = settings or Settings()
    # Their order is held, and explained, in server/edge/middlewares.py.
    app = web.Application(
        middlewares=middlewares_for(settings), client_max_size=settings.http_max_body
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app[keys.ORIGIN_POLICY] = OriginPolicy.from_setting(settings.allowed_origins)
    app[keys.TRUSTED_PROXIES] = TrustedProxies.from_setting(settings.trusted_proxies)
    app[keys.LIVE_CONNECTIONS] = LiveConnections(
        settings.max_connections, settings.max_connections_per_ip
    )
    app[keys.PROCESS] = process or ProcessInfo()
    app[keys.HUB] = _make_hub(settings, app[keys.METRICS])
    app[keys.HTTP_RATE_LIMITS] = RateLimiterPool(settings.room_rate, settings.room_burst)
    setup_routes(app, settings)
    app.on_startup.append(_start_hub)
    app.on_shutdown.append(_say_goodbye)
    return app


def _make_hub(settings: Settings, metrics: Metrics) -> RoomHub:
    """Rooms in memory, or in the Redis of `--broker` (imported only then)."""

    def count_drop(_subscription: Subscription, reason: DropReason) -> None:
        if reason is DropReason.SLOW_CONSUMER:
            metrics.refused(Reason.SLOW_CONSUMER)

    if settings.broker:
        from server.broker.redis_hub import RedisHub

        return RedisHub(
            settings.broker,
            history_size=settings.room_history,
            queue_size=settings.room_queue,
            max_rooms=settings.max_rooms,
            on_drop=count_drop,
        )
    return InMemoryHub(
        history_size=settings.room_history,
        queue_size=settings.room_queue,
        max_rooms=settings.max_rooms,
        on_drop=count_drop,
    )


async def _start_hub(app: web.Application) -> None:
    await app[keys.HUB].start()


async def _say_goodbye(app: web.Application) -> None:
    """On shutdown: WebSockets get 1001 (going away), SSE streams end, long-polls return."""
    await app[keys.HUB].close()
    await app[keys.LIVE_CONNECTIONS].close_all(grace_s=app[keys.SETTINGS].shutdown_timeout)
