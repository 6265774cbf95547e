"""Serving the app until SIGINT/SIGTERM, then shutting down within `--shutdown-timeout`."""

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from server.app import create_app
from server.settings import Settings


def base_url(address: object) -> str:
    """`http://host:port` for a socket address as `AppRunner.addresses` reports it."""
    host, port = address[0], address[1]  # type: ignore[index]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """An `AppRunner` that cancels handlers whose client left.

    Without `handler_cancellation` an SSE handler waiting between ticks for a departed client
    lives on until its next write fails, and holds up shutdown meanwhile.
    """
    return web.AppRunner(
        app, handler_cancellation=True, shutdown_timeout=settings.shutdown_timeout
    )


async def serve(settings: Settings, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; `on_ready(url)` is called once the socket listens."""
    runner = make_runner(create_app(settings), settings)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        on_ready(base_url(runner.addresses[0]))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
