"""`GuardedTCPSite`: the listening socket; every accepted connection gets a
`GuardedRequestHandler` (aiohttp's handler with this server's JSON errors and guards)."""

import asyncio
import ssl

from aiohttp import web

from server.edge.aiohttp_private import Refuse, handler_options
from server.edge.protocol import GuardedRequestHandler

# A listen backlog for bursts of new connections (the default 128 drops SYNs under load).
BACKLOG = 1024


class GuardedTCPSite(web.BaseSite):
    """`web.TCPSite` whose connections are guarded (and get a TLS handshake timeout)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        header_timeout: float,
        refuse: Refuse,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=BACKLOG)
        self._reuse_port = reuse_port  # several processes on one port (--workers)
        self._host = host
        self._port = port
        self._header_timeout = header_timeout
        self._refuse = refuse

    @property
    def name(self) -> str:
        """The URL this site serves, as aiohttp names its sites."""
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen; each accepted connection gets a `GuardedRequestHandler`."""
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() comes first"

        loop = asyncio.get_running_loop()

        options = handler_options(server)

        def make_protocol() -> GuardedRequestHandler:
            return GuardedRequestHandler(
                server,
                loop=loop,
                head_timeout=self._header_timeout,
                refuse=self._refuse,
                **options,
            )

        self._server = await loop.create_server(
            make_protocol,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=self._header_timeout if self._ssl_context else None,
            reuse_port=self._reuse_port or None,
        )
