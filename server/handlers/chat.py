"""What the room handlers of all three protocols share: the room from the URL, the resume
cursor, and publishing a client's message with validation and rate limiting.

Errors are raised, not answered: each protocol maps them its own way (HTTP status in
`server/errors.py`, an `{"error": ...}` frame or a close code in `ws.py`).
"""

from aiohttp import web

from server import keys
from server.core.cursors import Cursor, CursorError
from server.core.protocols import WireProtocol
from server.core.ratelimit import RateLimiter, acquire_or_raise
from server.core.refusals import BodyTooLarge
from server.core.rooms import RoomMessage
from server.core.validation import (
    Limits,
    ValidationError,
    max_chat_bytes,
    parse_chat_message,
    validate_room_name,
)


def room_name(request: web.Request) -> str:
    """The `{room}` of the URL; raises `ValidationError` for a name outside the rules."""
    return validate_room_name(request.match_info["room"])


def cursor(request: web.Request, name: str, header: str | None = None) -> Cursor | None:
    """A cursor (`<epoch>-<id>` or a plain id) to resume after, from a header or the query
    (`name`); None if absent. Raises `ValidationError` for anything else.

    The header wins: an EventSource opened with `?after=k` keeps that URL when it reconnects,
    and its `Last-Event-ID` is the newer position.
    """
    if header is not None and header in request.headers:
        label, raw = header, request.headers[header]
    elif name in request.query:
        label, raw = name, request.query[name]
    else:
        return None
    try:
        return Cursor.parse(raw)
    except CursorError as exc:
        raise ValidationError(f"{label}: {exc}") from None


async def publish(
    request: web.Request, raw: str | bytes, via: WireProtocol, limiter: RateLimiter, room: str
) -> RoomMessage:
    """Validate `raw` ({"user", "text"} JSON), spend a rate-limit token and publish it.

    Raises `BodyTooLarge`, `ValidationError`, `RateLimited` or a `RoomError`, each with a
    message for the user.
    """
    limits = chat_limits(request)
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
    if size > (limit := max_chat_bytes(limits)):
        raise BodyTooLarge(limit, "room message")
    chat = parse_chat_message(raw, limits)
    acquire_or_raise(limiter)
    return await request.app[keys.HUB].publish(room, chat.user, chat.text, via)


def chat_limits(request: web.Request) -> Limits:
    """The lengths a room message may have, from the settings."""
    settings = request.app[keys.SETTINGS]
    return Limits(max_user=settings.max_user, max_text=settings.max_text)


def max_body(request: web.Request) -> int:
    """The largest room message body worth reading (see `max_chat_bytes`)."""
    return max_chat_bytes(chat_limits(request))


def new_limiter(request: web.Request) -> RateLimiter:
    """A rate limiter for one connection, from the settings."""
    settings = request.app[keys.SETTINGS]
    return RateLimiter(settings.room_rate, settings.room_burst)
