"""Every piece of application state, as a typed `web.AppKey`: what the app holds, at a glance."""

from aiohttp import web

from server.connections import LiveConnections
from server.core.forwarded import TrustedProxies
from server.core.metrics import Metrics
from server.core.origins import OriginPolicy
from server.core.process import ProcessInfo
from server.core.ratelimit import RateLimiterPool
from server.core.rooms import RoomHub
from server.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
LIVE_CONNECTIONS = web.AppKey("live_connections", LiveConnections)
HUB = web.AppKey("hub", RoomHub)
HTTP_RATE_LIMITS = web.AppKey("http_rate_limits", RateLimiterPool)
ORIGIN_POLICY = web.AppKey("origin_policy", OriginPolicy)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
PROCESS = web.AppKey("process", ProcessInfo)
