"""A WebSocket that stays connected: reconnects with backoff, and says why it closed.

RFC 6455 §7.4.1 close codes decide whether reconnecting makes sense: 1001 (going away, a
server shutting down), 1006 (no close frame: the connection broke), 1011/1012/1013/1014
(server error, restart, try again later, bad gateway) are transient; 1000 means the server
finished on purpose and the others (1002 protocol error, 1007 bad data, 1008 policy, 1009 too
big ...) are refusals that would happen again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import WSMsgType
from yarl import URL

from client.errors import ClientError, ConnectionLost, ProtocolFailure, StreamEnded, describe
from client.reconnect import Reconnector, StateReport, quiet
from client.urls import ws_display

__all__ = ["TRANSIENT_CLOSE_CODES", "Incoming", "ResilientWebSocket", "connect_websocket"]

TRANSIENT_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
_INBOX_SIZE = 1000  # frames read but not yet taken; beyond it we stop reading (backpressure)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A frame from connection number `generation`, or (``message is None``) its end."""

    generation: int
    message: aiohttp.WSMessage | None


async def connect_websocket(
    session: aiohttp.ClientSession, url: URL
) -> aiohttp.ClientWebSocketResponse:
    """Open a WebSocket to `url`; raises `ConnectionLost` or `ProtocolFailure` (HTTP 4xx)."""
    try:
        # No client size limit: the server's --ws-max-size is the limit being explored.
        return await session.ws_connect(url, autoping=True, max_msg_size=0)
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status >= 500:
            raise ConnectionLost(describe(exc)) from None
        raise ProtocolFailure(describe(exc)) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ConnectionLost(describe(exc)) from None


def close_reason(code: int | None, reason: str) -> str:
    """``"closed with 1001 (server shutting down)"``, for state reports and errors."""
    if code is None or code == 1006:
        return f"connection lost ({reason})" if reason else "connection lost"
    return f"closed with {code}" + (f" ({reason})" if reason else "")


class ResilientWebSocket:
    """One logical WebSocket over as many connections as it takes.

    :meth:`start` makes the first connection (raising if it fails), then a background task
    reads frames into :attr:`inbox` and reconnects after transient closes. Each connection
    has a `generation` number; its end is announced in the inbox as ``Incoming(gen, None)``.
    `url_for` is called before every connection, so a resume cursor can go in the URL;
    `before_reconnect`, if given, is awaited before each reconnection attempt.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url_for: Callable[[], URL],
        reconnector: Reconnector,
        *,
        report: StateReport = quiet,
        transient_codes: frozenset[int] = TRANSIENT_CLOSE_CODES,
        before_reconnect: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.inbox: asyncio.Queue[Incoming] = asyncio.Queue(maxsize=_INBOX_SIZE)
        self.generation = 0
        self.reconnector = reconnector
        self._session = session
        self._url_for = url_for
        self._report = report
        self._transient = transient_codes
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._open = asyncio.Event()
        self._failure: ClientError | None = None
        self._task: asyncio.Task[None] | None = None
        self._before_reconnect = before_reconnect

    async def start(self) -> None:
        """Connect for the first time; raises `ConnectionLost`/`ProtocolFailure` on failure."""
        ws = await self._connect()
        self._task = asyncio.create_task(self._run(ws), name="websocket-reader")

    async def wait_open(self) -> tuple[aiohttp.ClientWebSocketResponse, int]:
        """The open socket and its generation; waits while reconnecting.

        Raises the `ClientError` that ended the connection for good, if one did.
        """
        await self._open.wait()
        if self._failure is not None:
            raise self._failure
        assert self._ws is not None  # set together with the event
        return self._ws, self.generation

    def failure(self) -> ClientError | None:
        """Why the socket stopped for good, or None while it is (re)connecting or open."""
        return self._failure

    async def close(self) -> None:
        """Stop reconnecting and close the current connection normally (1000)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with asyncio.timeout(2):
                    await self._ws.close()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        url = self._url_for()
        self._report("connecting", f"connecting to {ws_display(url)}", url=ws_display(url))
        ws = await connect_websocket(self._session, url)
        self.generation += 1
        self._ws = ws
        self.reconnector.connected()
        self._open.set()
        self._report("open", f"connected to {ws_display(url)}", url=ws_display(url))
        return ws

    async def _run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            code, reason = await self._read_until_closed(ws)
            self._open.clear()
            await self.inbox.put(Incoming(self.generation, None))
            text = close_reason(code, reason)
            if code == 1000:
                self._stop(StreamEnded(f"the server {text}"))
                return
            if code not in self._transient:
                self._stop(ProtocolFailure(f"the server {text}"))
                return
            try:
                ws = await self._reconnect(text)
            except ClientError as exc:
                self._stop(exc)
                return

    async def _read_until_closed(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
        while True:
            message = await ws.receive()
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await self.inbox.put(Incoming(self.generation, message))
            elif message.type is WSMsgType.CLOSE:
                return int(message.data), str(message.extra or "")
            elif message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                error = ws.exception()
                return ws.close_code or 1006, describe(error) if error else ""

    async def _reconnect(self, reason: str) -> aiohttp.ClientWebSocketResponse:
        while True:
            await self.reconnector.wait(reason)
            if self._before_reconnect is not None:
                await self._before_reconnect()
            try:
                return await self._connect()
            except ConnectionLost as exc:
                reason = f"reconnection failed: {exc}"

    def _stop(self, failure: ClientError) -> None:
        self._failure = failure
        self._report("closed", str(failure), reason=str(failure))
        self._open.set()  # wake waiters so they see the failure
