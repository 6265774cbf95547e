"""Refusals: every way the server turns a client away, typed once.

A refusal is the client's problem, never the server's: it carries a message fit to show
the user, the HTTP status that answers it before a stream has started, the WebSocket close
code that ends a connection with it, and the `Reason` it is counted under in `/api/stats`
`refused` (None: not counted, as for plain bad input). Each protocol maps a refusal in one
place: HTTP in `server/errors.py` (a JSON `{"error": ...}` with `status`), WebSocket in
`server/wire/ws.py` (an `{"error": ...}` frame, or a Close with `close_code`), SSE in
`server/wire/sse.py` (a 4xx/5xx before the stream starts, the stream's end after).

The tree (the classes that live elsewhere are defined next to the rule they enforce)::

    Refusal                       status  close  reason
    ├── NotWebSocket                 400      -  -            (no Upgrade on a WS endpoint)
    ├── UnsupportedVersion           400      -  -            (Sec-WebSocket-Version not 13)
    ├── ValidationError              400   1008  -            core/validation.py
    ├── BodyTooLarge                 413   1009  body_too_large
    ├── OriginRefused                403   1008  origin       core/origins.py
    ├── RateLimited                  429   1008  rate_limit   core/ratelimit.py
    ├── Unavailable                  503   1013  -
    │   ├── ConnectionLimitReached   503   1013  max_connections[_per_ip]  server/connections.py
    │   └── RoomError                503   1013  -            core/rooms.py
    │       ├── RoomLimitReached     503   1013  max_rooms
    │       ├── BrokerUnavailable    503   1013  -            (--broker unreachable)
    │       └── HubClosed            503   1001  -
    └── Cut                            -      -  (a connection ended by a limit)
        ├── IdleTimeout                 -  1000  idle_timeout
        ├── MessageTooBig             413  1009  ws_message_too_big
        ├── SlowConsumer                -  1008  slow_consumer
        ├── SendTimeout                 -     -  send_timeout (aborted: no Close can get through)
        └── StreamLifetime              -     -  sse_lifetime (SSE: the stream ends)

No I/O and no aiohttp here: close codes are plain RFC 6455 numbers.
"""

import math
from enum import IntEnum, StrEnum
from typing import ClassVar


class Reason(StrEnum):
    """The key a refusal is counted under in `/api/stats` `refused`."""

    ORIGIN = "origin"
    RATE_LIMIT = "rate_limit"
    MAX_ROOMS = "max_rooms"
    MAX_CONNECTIONS = "max_connections"
    MAX_CONNECTIONS_PER_IP = "max_connections_per_ip"
    BODY_TOO_LARGE = "body_too_large"
    BODY_TIMEOUT = "body_timeout"
    BAD_REQUEST = "bad_request"
    HEADER_TIMEOUT = "header_timeout"
    SEND_TIMEOUT = "send_timeout"
    IDLE_TIMEOUT = "idle_timeout"
    SSE_LIFETIME = "sse_lifetime"
    SLOW_CONSUMER = "slow_consumer"
    WS_PROTOCOL_ERROR = "ws_protocol_error"
    WS_INVALID_DATA = "ws_invalid_data"
    WS_MESSAGE_TOO_BIG = "ws_message_too_big"


class CloseCode(IntEnum):
    """The WebSocket close codes a refusal can end a connection with (RFC 6455 §7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


class Refusal(Exception):
    """The server turns a client (or one of its messages) away; `str()` says why, to the user.

    Subclasses set the class attributes; an instance may override `reason` (one class, two
    limits) and `close_code`.
    """

    status: ClassVar[int] = 400
    close_code: CloseCode = CloseCode.POLICY_VIOLATION
    reason: Reason | None = None
    # Seconds after which trying again may succeed (`Retry-After`); None: do not say.
    retry_after: float | None = None

    def body(self) -> dict[str, object]:
        """The JSON body of the HTTP answer."""
        return {"error": str(self)}

    def headers(self) -> dict[str, str]:
        """Headers of the HTTP answer (`Retry-After` in whole seconds when it is known)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class NotWebSocket(Refusal):
    """A plain request (a browser's address bar, curl) on a WebSocket endpoint.

    A 400, as it always was here; 426 would be as right, but clients and tests know 400.
    """

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is a WebSocket endpoint: open it with a WebSocket client "
            "(new WebSocket('ws://...') in a page, python -m client ws); "
            "a plain HTTP request cannot use it"
        )

    def headers(self) -> dict[str, str]:
        """Name the protocol to upgrade to (RFC 9110 §7.8 lets any response say it)."""
        return {"Upgrade": "websocket"}


class UnsupportedVersion(Refusal):
    """A WebSocket handshake with a version this server does not speak."""

    def __init__(self, version: str) -> None:
        shown = version if len(version) <= 20 else version[:19] + "…"
        super().__init__(f"unsupported Sec-WebSocket-Version {shown!r}; this server speaks 13")

    def headers(self) -> dict[str, str]:
        """RFC 6455 §4.2.2 (4): the versions the server does speak."""
        return {"Sec-WebSocket-Version": "13"}


class BodyTooLarge(Refusal):
    """A request body (or room message) over the limit for what it is."""

    status = 413
    close_code = CloseCode.MESSAGE_TOO_BIG
    reason = Reason.BODY_TOO_LARGE

    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(f"{what} is larger than the limit of {limit} bytes")


class Unavailable(Refusal):
    """A limit of the server is reached; trying again later may work."""

    status = 503
    close_code = CloseCode.TRY_AGAIN_LATER
    retry_after = 1.0


class Cut(Refusal):
    """A connection ended by a bound (idle, size, speed, lifetime), not by its peer."""


class IdleTimeout(Cut):
    """No message from the client within `--ws-idle-timeout`."""

    close_code = CloseCode.NORMAL
    reason = Reason.IDLE_TIMEOUT

    def __init__(self) -> None:
        super().__init__("idle timeout")


class MessageTooBig(Cut):
    """A message over `--ws-max-size`."""

    status = 413
    close_code = CloseCode.MESSAGE_TOO_BIG
    reason = Reason.WS_MESSAGE_TOO_BIG

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes is over the limit of {limit}")


class SlowConsumer(Cut):
    """A room subscriber fell more than its queue behind."""

    close_code = CloseCode.POLICY_VIOLATION
    reason = Reason.SLOW_CONSUMER

    def __init__(self, queue_size: int) -> None:
        super().__init__(f"too slow: fell more than {queue_size} messages behind")


class SendTimeout(Cut):
    """A write waited `--*-send-timeout` on a client that does not read: the socket is cut."""

    reason = Reason.SEND_TIMEOUT

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the client did not read for {seconds:g} s")


class StreamLifetime(Cut):
    """An SSE stream reached `--sse-max-lifetime`."""

    reason = Reason.SSE_LIFETIME

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stream lifetime of {seconds:g} s reached; reconnect with Last-Event-ID")
