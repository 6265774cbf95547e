"""Serving the app until SIGINT/SIGTERM, then shutting down within `--shutdown-timeout`."""

import asyncio
import logging
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.log import access_logger

from server import keys
from server.app import create_app
from server.core.process import ProcessInfo
from server.edge.aiohttp_private import skip_current_app_fix
from server.edge.site import GuardedTCPSite
from server.settings import Settings
from server.tls import tls_setup

logger = logging.getLogger(__name__)


def base_url(address: object, scheme: str = "http") -> str:
    """`scheme://host:port` for a socket address as `AppRunner.addresses` reports it."""
    host, port = address[0], address[1]  # type: ignore[index]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop `--loop` names (None: asyncio's default)."""
    if name == "uvloop":
        import uvloop  # only imported when asked for; Settings checked that it is installed

        return uvloop.new_event_loop
    return None


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """An `AppRunner` that cancels handlers whose client left.

    Without `handler_cancellation` an SSE handler waiting between ticks for a departed client
    lives on until its next write fails, and holds up shutdown meanwhile. `keepalive_timeout`
    replaces aiohttp's default of 3630 s, which suits a server behind a proxy, not one facing
    clients directly. The access log (one line per request) is off unless `--access-log`.
    """
    return web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=settings.shutdown_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        access_log=access_logger if settings.access_log else None,
    )


@dataclass(frozen=True, slots=True)
class Running:
    """A server that listens: its runner (clean it up to stop), URL and CA file to trust."""

    runner: web.AppRunner
    url: str
    trust: Path | None


async def start(settings: Settings, process: ProcessInfo | None = None) -> Running:
    """Make the app and listen on `settings.host:settings.port` (with TLS if asked).

    `process` says which of `--workers` processes this is; several then share the port
    (SO_REUSEPORT, see server/workers.py).
    """
    tls = tls_setup(settings)  # first: a bad certificate must fail before we listen
    app = create_app(settings, process)
    runner = make_runner(app, settings)
    await runner.setup()
    skip_current_app_fix(app)  # the app is frozen now
    try:
        site = GuardedTCPSite(
            runner,
            settings.host,
            settings.port,
            header_timeout=settings.header_timeout,
            refuse=app[keys.METRICS].refused,
            ssl_context=tls.context if tls else None,
            reuse_port=process is not None and process.count > 1,
        )
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    url = base_url(runner.addresses[0], "https" if tls else "http")
    return Running(runner, url, tls.trust if tls else None)


def raise_open_file_limit() -> None:
    """Let this process hold as many sockets as the system allows it (the hard limit).

    The usual soft limit of 1024 file descriptors would cap the server near 1000 clients,
    below `--max-connections`; past the limit `accept()` fails and clients wait in vain.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            logger.warning("could not raise the open-file limit above %d", soft)


async def serve(
    settings: Settings, on_ready: Callable[[Running], None], process: ProcessInfo | None = None
) -> None:
    """Serve until SIGINT or SIGTERM; `on_ready(running)` is called once the socket listens."""
    raise_open_file_limit()
    running = await start(settings, process)
    try:
        on_ready(running)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await running.runner.cleanup()
