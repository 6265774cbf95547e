"""`WsConnection`: one live WebSocket, with everything but the conversation.

    async with await WsConnection.accept(request, idle=True) as conn:
        async for data in conn:           # text (str) and binary (bytes) messages
            if not await conn.send(data):
                break
    return conn.response

We read close frames ourselves (`autoclose=False`) because the answer to a Close depends on
its code (RFC 6455 §7.4), which aiohttp does not check fully.

Every way a peer can hold the server is bounded:

* a peer that does not read: a send that can block (the socket's write buffer would pass
  its high-water mark) may wait `--ws-send-timeout` s, then the connection is cut (a
  graceful close would wait on the same full buffer). A send that cannot block gets no timer;
* a peer that vanished (half-open TCP): after `--ws-heartbeat` s in which nothing arrived
  from it, it is pinged, and cut if nothing (its pong) arrives within half that. This is
  aiohttp's heartbeat rule, kept here because aiohttp's own heartbeat re-arms its timer from a
  callback scheduled for every chunk received; ours is one timer, moved only when it fires;
* a peer that is connected but silent (`idle=True`): closed with 1000 "idle timeout" after
  `--ws-idle-timeout` s without a message. Pings and pongs do not count as activity (they
  prove the path is alive, which is the heartbeat's job, not that anyone uses it). One timer
  per connection, moved only when it fires: a message just notes the time;
* bad input: over `--ws-max-size` 1009, broken frames 1002, invalid UTF-8 1007 (aiohttp
  detects the last two).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from time import monotonic
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, hdrs, web

from server import keys
from server.connections import ConnectionLimitReached, Place
from server.core import close_codes
from server.core.metrics import Metrics
from server.core.protocols import WireProtocol
from server.core.refusals import (
    CloseCode,
    IdleTimeout,
    MessageTooBig,
    NotWebSocket,
    Reason,
    Refusal,
    SendTimeout,
    UnsupportedVersion,
)
from server.edge.aiohttp_private import SelfContainedDeflateResponse, frame_writer
from server.edge.protocol import GuardedRequestHandler, guard_of
from server.request_head import report_request_head
from server.settings import Settings

WS = WireProtocol.WS
# How long our Close waits for the peer's (RFC 6455 §7.1.1 asks for the reply, not for a
# wait of any length). aiohttp's 10 s would let a flood of refused upgrades that never
# answer hold a handler each for 10 s.
CLOSE_HANDSHAKE_S = 2.0
SHUTDOWN_REASON = "server shutting down"
MAX_FRAME_HEADER = 14  # bytes: 2, 8 of extended length and a 4-byte mask key (RFC 6455 §5.2)
# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
MAX_CLOSE_REASON = 123
logger = logging.getLogger(__name__)

# What aiohttp's close code for bad input means, as a key of `/api/stats` `refused`.
_INPUT_ERRORS = {
    WSCloseCode.PROTOCOL_ERROR: Reason.WS_PROTOCOL_ERROR,
    WSCloseCode.INVALID_TEXT: Reason.WS_INVALID_DATA,
    WSCloseCode.MESSAGE_TOO_BIG: Reason.WS_MESSAGE_TOO_BIG,
}


def payload_size(data: str | bytes) -> int:
    """Bytes of a message's payload. `str.isascii()` is O(1) in CPython: an ASCII text is
    counted without encoding it a second time."""
    if isinstance(data, bytes) or data.isascii():
        return len(data)
    return len(data.encode())


# The versions aiohttp's handshake accepts (13 is RFC 6455; 7 and 8 were its drafts).
_VERSIONS = frozenset({"13", "8", "7"})


def check_handshake(request: web.Request) -> None:
    """Refuse, with an answer a person can read, a request that is not a WebSocket handshake
    (`NotWebSocket`, 426) or asks for a version we do not speak (`UnsupportedVersion`, 400
    with `Sec-WebSocket-Version: 13`). aiohttp checks the rest of the handshake."""
    if request.headers.get(hdrs.UPGRADE, "").strip().lower() != "websocket":
        raise NotWebSocket(request.path)
    version = request.headers.get(hdrs.SEC_WEBSOCKET_VERSION, "")
    if version.strip() not in _VERSIONS:
        raise UnsupportedVersion(version)


def _forget(task: "asyncio.Future[None]") -> None:
    """Done callback of a ping: a peer that left is the pong check's business, not an error."""
    if not task.cancelled():
        task.exception()


class WsConnection:
    """One upgraded WebSocket: admitted, counted, bounded; iterate it for messages."""

    __slots__ = (
        "_closed_by_idle",
        "_counters",
        "_guard",
        "_heartbeat_s",
        "_high_water",
        "_idle_due",
        "_idle_s",
        "_last_frame",
        "_last_message",
        "_loop",
        "_max_size",
        "_metrics",
        "_ping_chunks",
        "_ping_sent",
        "_ping_task",
        "_place",
        "_receiving",
        "_send_timeout",
        "_task",
        "_timer",
        "_transport",
        "_writer",
        "request",
        "response",
    )

    def __init__(self, request: web.Request, response: web.WebSocketResponse) -> None:
        settings: Settings = request.app[keys.SETTINGS]
        self.request = request
        self.response = response
        self._metrics: Metrics = request.app[keys.METRICS]
        self._counters = self._metrics.counters(WS)
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._max_size = settings.ws_max_size
        self._send_timeout = settings.ws_send_timeout or None
        self._idle_s = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._idle_due = False
        self._closed_by_idle = False
        self._receiving = False
        self._last_message = 0.0
        self._place: Place | None = None
        self._guard: GuardedRequestHandler | None = None
        self._heartbeat_s = 0.0
        self._last_frame = 0.0
        self._ping_sent = 0.0
        self._ping_chunks = 0
        self._ping_task: asyncio.Future[None] | None = None
        # The transport of an upgraded connection never changes; held to skip a property.
        self._transport = transport = request.transport
        self._high_water = transport.get_write_buffer_limits()[1] if transport else 0
        self._writer = frame_writer(response)

    # -- opening and closing ------------------------------------------------------------------
    @classmethod
    async def accept(
        cls, request: web.Request, *, idle: bool = False, broadcast: bool = False
    ) -> Self:
        """Complete the upgrade and take a place among the live connections.

        When `--max-connections` or `--max-connections-per-ip` is reached the socket is
        closed with 1013 (try again later), which a browser can show, unlike a refused
        upgrade; the connection then yields no message. With `idle`, a client that sends
        nothing for `--ws-idle-timeout` s is closed with 1000 "idle timeout". With
        `broadcast` (a room subscriber), permessage-deflate is negotiated without context
        takeover, so that one compressed frame per publish serves every subscriber
        (`SelfContainedDeflateResponse`).
        """
        check_handshake(request)
        settings = request.app[keys.SETTINGS]
        response_class = SelfContainedDeflateResponse if broadcast else web.WebSocketResponse
        # aiohttp refuses a plain frame whose length *equals* max_msg_size but lets a
        # compressed one of max_msg_size + 1 through; we give it one byte of slack and apply
        # the exact limit ourselves. 0 stays 0 (unlimited).
        # autoping=False: pings and pongs reach `__aiter__`, which answers pings and takes
        # pongs as signs of life for the heartbeat (see the module docstring).
        response = response_class(
            timeout=CLOSE_HANDSHAKE_S,
            max_msg_size=settings.ws_max_size + 1 if settings.ws_max_size else 0,
            compress=settings.ws_compress,
            autoclose=False,
            autoping=False,
        )
        # Before the 101 goes out, so the guard sees the first frame's first byte.
        guard = guard_of(request)
        if guard is not None:
            guard.expect_websocket_frames()
        report_request_head(request, response)
        await response.prepare(request)
        conn = cls(request, response)
        conn._guard = guard
        try:
            conn._place = request.app[keys.LIVE_CONNECTIONS].admit(request.remote or "unknown")
        except ConnectionLimitReached as refusal:
            await conn.refuse(refusal)
            return conn
        conn._place.attach(conn.say_goodbye, request.transport)
        conn._metrics.opened(WS)
        conn._start_clock(settings.ws_idle_timeout if idle else 0.0, settings.ws_heartbeat)
        return conn

    @property
    def admitted(self) -> bool:
        """True when the connection holds a place (it was not refused at the door)."""
        return self._place is not None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """Give the place back; an unexpected error is logged and answered with 1011."""
        self._stop_clock()
        suppress = False
        if isinstance(exc, Exception):  # the upgrade is done: answer 1011, not an HTTP 500
            logger.exception(
                "unexpected error in %s %s",
                self.request.method,
                self.request.path,
                exc_info=exc,
            )
            await self.close(CloseCode.INTERNAL_ERROR, "internal server error")
            suppress = True
        if self._place is not None:
            self.request.app[keys.LIVE_CONNECTIONS].release(self._place)
            self._place = None
            self._metrics.closed(WS)
        return suppress

    async def close(self, code: int, reason: str = "") -> None:
        """Close with `code`, or cut the connection if the peer does not even take the Close."""
        try:
            async with asyncio.timeout(self._send_timeout):
                await self.response.close(code=code, message=reason.encode()[:MAX_CLOSE_REASON])
        except TimeoutError:
            self.abort()

    async def refuse(self, refusal: Refusal) -> None:
        """End the connection for `refusal`: counted, closed with its code and message."""
        if refusal.reason is not None:
            self._metrics.refused(refusal.reason)
        await self.close(refusal.close_code, str(refusal))

    async def answer(self, refusal: Refusal) -> bool:
        """Refuse one message and keep the connection: counted, answered with an
        `{"error": ...}` text frame. False if the peer is gone (see `send`)."""
        if refusal.reason is not None:
            self._metrics.refused(refusal.reason)
        return await self.send(json.dumps({"error": str(refusal)}, separators=(",", ":")))

    def abort(self) -> None:
        """Drop the TCP connection at once: a stalled peer would never drain a graceful close."""
        if self.request.transport is not None:
            self.request.transport.abort()

    async def say_goodbye(self, grace_s: float) -> None:
        """Shutdown: close with 1001 (going away); cut a peer that does not take it in time."""
        try:
            async with asyncio.timeout(grace_s):
                await self.response.close(
                    code=CloseCode.GOING_AWAY, message=SHUTDOWN_REASON.encode()
                )
        except TimeoutError:  # a peer that does not read would hold shutdown up forever
            self.abort()

    # -- receiving --------------------------------------------------------------------------
    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Each text (str) or binary (bytes) message, counted and within `--ws-max-size`.

        Ends when the connection is over: the peer's Close was answered, bad input was
        refused (aiohttp has closed with 1002/1007/1009), a message was too big (1009), or the
        client was idle. Pings are answered with pongs, and pings and pongs are taken as signs
        of life for the heartbeat, not as messages.
        """
        if self._place is None:
            return
        # The hot loop: what it reads often is held in locals, and Metrics.received is
        # inlined (the counters object is looked up once per connection).
        response, counters, max_size = self.response, self._counters, self._max_size
        while True:
            if self._idle_due:
                await self._close_for_idling()
                return
            self._receiving = True
            try:
                msg = await response.receive()
            except asyncio.CancelledError:
                if not self._cancelled_by_idle_clock():
                    raise
                await self._close_for_idling()
                return
            finally:
                self._receiving = False
            kind = msg.type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                data: str | bytes = msg.data
                size = payload_size(data)
                if max_size and size > max_size:
                    await self.refuse(MessageTooBig(size, max_size))
                    return
                # time.monotonic is asyncio's clock, without the loop's Python-level method;
                # timers are armed with delays, so uvloop's own clock need not agree with it.
                self._last_message = monotonic()
                counters.messages_in += 1
                counters.bytes_in += size
                yield data
            elif kind is WSMsgType.PING:  # RFC 6455 §5.5.3: the pong echoes the ping's payload
                self._last_frame = monotonic()
                with contextlib.suppress(ConnectionResetError):
                    await response.pong(msg.data)
            elif kind is WSMsgType.PONG:
                self._last_frame = monotonic()
            elif kind is WSMsgType.CLOSE:
                await self.close(close_codes.reply_to_close(msg.data))
                return
            else:  # CLOSING (we started the close), CLOSED or ERROR: already answered.
                if kind is WSMsgType.ERROR:
                    self._count_bad_input(msg)
                return

    def _cancelled_by_idle_clock(self) -> bool:
        """True if the cancellation being handled is our idle clock's (see `_idle_expired`):
        like `asyncio.timeout`, take back only that cancellation, never anybody else's."""
        task = self._task
        return self._closed_by_idle and task is not None and task.uncancel() == 0

    def _count_bad_input(self, msg: aiohttp.WSMessage) -> None:
        if isinstance(msg.data, aiohttp.WebSocketError) and msg.data.code:
            reason = _INPUT_ERRORS.get(WSCloseCode(msg.data.code))
            if reason is not None:
                self._metrics.refused(reason)

    # -- the clock: one timer for the idle deadline and the heartbeat ------------------------
    def _start_clock(self, idle_s: float, heartbeat_s: float) -> None:
        """Arm the connection's one timer. Messages only note the time (`_last_message`,
        `_last_frame`); the timer reads those when it fires and moves itself on."""
        self._idle_s, self._heartbeat_s = idle_s, heartbeat_s
        self._last_message = self._last_frame = monotonic()
        self._ping_chunks = self._guard.chunks if self._guard is not None else 0
        waits = [s for s in (idle_s, heartbeat_s) if s]
        if waits:
            self._timer = self._loop.call_later(min(waits), self._tick)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ping_task is not None:
            self._ping_task.cancel()

    def _tick(self) -> None:
        """The timer fired: act on what is due, then re-arm for what comes next."""
        self._timer = None
        now = monotonic()
        if self._idle_s:
            left = self._last_message + self._idle_s - now
            if left <= 0:
                self._idle_expired()
                return  # the connection closes: no more deadlines
            waits = [left]
        else:
            waits = []
        if self._heartbeat_s:
            heartbeat_left = self._heartbeat(now)
            if heartbeat_left is None:
                return  # cut
            waits.append(heartbeat_left)
        self._timer = self._loop.call_later(min(waits), self._tick)

    def _idle_expired(self) -> None:
        if self._receiving and self._task is not None:
            self._closed_by_idle = True
            self._task.cancel()
        else:  # busy sending: the next receive closes it (a blocked send has its own bound)
            self._idle_due = True

    async def _close_for_idling(self) -> None:
        self._idle_due = self._closed_by_idle = False
        await self.refuse(IdleTimeout())

    def _heartbeat(self, now: float) -> float | None:
        """Ping after `--ws-heartbeat` s without a sign of life; cut a peer that shows none
        within half that after the ping. Returns the seconds until the heartbeat's next
        deadline, or None when the peer was cut."""
        guard = self._guard
        chunks = guard.chunks if guard is not None else 0
        # Bytes arrived (a big message still on its way) count as life, though no message
        # ended: the guard counts chunks for nothing more than an addition.
        alive_since = (
            now if chunks != self._ping_chunks else max(self._last_message, self._last_frame)
        )
        self._ping_chunks = chunks
        if self._ping_sent:  # a ping is out
            if alive_since >= self._ping_sent:
                self._ping_sent = 0.0
            elif now - self._ping_sent >= self._heartbeat_s / 2:
                logger.debug("%s answered no ping: cut", self.request.remote)
                self.abort()
                return None
            else:
                return self._ping_sent + self._heartbeat_s / 2 - now
        left = alive_since + self._heartbeat_s - now
        if left > 0:
            return left
        transport = self._transport
        if transport is None or transport.is_closing():
            return None
        # A ping is a control frame: aiohttp writes it at once, uncompressed; the task only
        # waits if the buffer is full, and then the pong deadline cuts the peer anyway.
        self._ping_sent = now
        self._ping_task = asyncio.ensure_future(self.response.ping())
        self._ping_task.add_done_callback(_forget)
        return self._heartbeat_s / 2

    # -- sending ------------------------------------------------------------------------------
    async def send(self, data: str | bytes) -> bool:
        """Send one message; counted. Returns False if the peer is gone or did not take it
        within `--ws-send-timeout` s, in which case the connection has been cut."""
        if isinstance(data, str):
            payload, opcode = data.encode(), WSMsgType.TEXT
        else:
            payload, opcode = data, WSMsgType.BINARY
        size = len(payload)
        try:
            if self._may_block(size):
                async with asyncio.timeout(self._send_timeout):
                    await self._writer.send_frame(payload, opcode)
            else:  # the hot path: no timer
                await self._writer.send_frame(payload, opcode)
        except TimeoutError:
            self._metrics.refused(Reason.SEND_TIMEOUT)
            logger.debug("%s", SendTimeout(self._send_timeout or 0))
            self.abort()
            return False
        except ConnectionResetError:  # the peer left while we were answering it
            return False
        counters = self._counters  # Metrics.sent, inlined: this is the hot path
        counters.messages_out += 1
        counters.bytes_out += size
        return True

    def _may_block(self, size: int) -> bool:
        """True if writing `size` more bytes could make the send wait on the peer: aiohttp
        waits only when the socket's buffer is over its high-water mark (flow control)."""
        transport = self._transport
        if self._send_timeout is None or transport is None:
            return False
        return transport.get_write_buffer_size() + size + MAX_FRAME_HEADER > self._high_water
