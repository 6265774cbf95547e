"""Rules for client input, with errors that say what was wrong and why.

Every rule raises `ValidationError`; its message is meant for the client as is (the HTTP
handlers answer 400 `{"error": message}`, the WebSocket handler sends an `{"error": message}`
frame). Messages quote the offending value, shortened, so a client can find its mistake.

Decisions:
* Room names are 1-64 characters of `[A-Za-z0-9_-]`: safe in URLs, SSE and logs unescaped.
* `user` and `text` are kept exactly as sent (no stripping), but must not be empty or only
  whitespace. Lengths count Unicode code points. `user` must not contain control characters
  (it is shown on one line); `text` may contain newlines and tabs.
* Query parameters are plain ASCII decimal numbers; `int()`/`float()` leniency ("1_000",
  " 5", "nan", "inf") is rejected so the accepted syntax is the documented one.
"""

import json
import math
import re
import unicodedata
from dataclasses import dataclass

from server.core.refusals import Refusal

ROOM_NAME_MAX = 64
_ROOM_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{ROOM_NAME_MAX}}}")
_INT = re.compile(r"[+-]?[0-9]{1,18}")  # 18 digits fit any sane bound and int64
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_PREVIEW_MAX = 40
_OBJECT_EXPECTED = 'expected a JSON object with "user" and "text"'


class ValidationError(Refusal, ValueError):
    """Client input broke a rule; `str(error)` is the message to send back (a 400)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Length limits for chat messages, in characters."""

    max_user: int = 32
    max_text: int = 4096


def max_chat_bytes(limits: Limits) -> int:
    """The largest chat message body worth parsing: `user` and `text` at their longest, every
    character escaped at its longest in JSON (12 bytes: a surrogate pair as two `\\uXXXX`),
    and 4 KiB for the braces, the names and a few extra fields.

    Only bounded input is parsed: a 10 MB JSON array of small numbers is about a hundred
    megabytes of Python objects, memory the process keeps after it is freed.
    """
    return 12 * (limits.max_user + limits.max_text) + 4096


@dataclass(frozen=True, slots=True)
class ChatInput:
    """A chat message that passed validation."""

    user: str
    text: str


def _preview(value: object) -> str:
    """`repr(value)`, shortened so an error message stays small whatever the client sent."""
    text = repr(value)
    return text if len(text) <= _PREVIEW_MAX else text[: _PREVIEW_MAX - 1] + "…"


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages like "got number"."""
    match value:
        case None:
            return "null"
        case bool():
            return "boolean"
        case int() | float():
            return "number"
        case str():
            return "string"
        case list():
            return "array"
        case dict():
            return "object"
    return type(value).__name__


def validate_room_name(name: object) -> str:
    """Return `name` if it is a valid room name, else raise `ValidationError`."""
    if name is None or name == "":
        raise ValidationError("room name is required")
    if not isinstance(name, str):
        raise ValidationError(f"room name must be a string, got {_json_type(name)}")
    if not _ROOM_NAME.fullmatch(name):
        raise ValidationError(
            f"room name must be 1-{ROOM_NAME_MAX} characters of A-Z, a-z, 0-9, '_' or '-', "
            f"got {_preview(name)}"
        )
    return name


def parse_chat_message(raw: str | bytes | object, limits: Limits) -> ChatInput:
    """Validate a chat message given as JSON text (str or UTF-8 bytes) or a decoded dict.

    The message must be a JSON object with string fields `user` and `text`; other fields are
    ignored. Raises `ValidationError` naming the first problem found.
    """
    data = _decode(raw) if isinstance(raw, str | bytes) else raw
    if not isinstance(data, dict):
        raise ValidationError(f"{_OBJECT_EXPECTED}, got {_json_type(data)}")
    user = _string_field(data, "user", limits.max_user)
    if any(unicodedata.category(char) == "Cc" for char in user):
        raise ValidationError("user must not contain control characters")
    return ChatInput(user=user, text=_string_field(data, "text", limits.max_text))


def _decode(raw: str | bytes) -> object:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"body is not valid UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"body is not valid JSON: {exc}") from None
    except ValueError:  # Python refuses int() of more than 4300 digits (CVE-2020-10735)
        raise ValidationError(
            "body has a number with more digits than this server reads"
        ) from None
    except RecursionError:  # [[[[...]]]] thousands deep
        raise ValidationError("body is not valid JSON: nested too deeply") from None


def _string_field(data: dict[object, object], name: str, max_len: int) -> str:
    if name not in data:
        raise ValidationError(f'{_OBJECT_EXPECTED}; "{name}" is missing')
    value = data[name]
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {_json_type(value)}")
    if not 1 <= len(value) <= max_len:
        raise ValidationError(f"{name} must be 1-{max_len} characters, got {len(value)}")
    if value.isspace():
        raise ValidationError(f"{name} must not be only whitespace")
    return value


def parse_int_param(
    name: str, raw: str | None, *, default: int, minimum: int, maximum: int
) -> int:
    """Parse query parameter `name`: `default` when absent, else an integer in the bounds.

    Raises `ValidationError` for anything else, including an empty value.
    """
    _check_default(default, minimum, maximum)
    if raw is None:
        return default
    if _INT.fullmatch(raw):
        value = int(raw)
        if minimum <= value <= maximum:
            return value
    raise ValidationError(
        f"{name} must be an integer between {minimum} and {maximum}, got {_preview(raw)}"
    )


def parse_float_param(
    name: str, raw: str | None, *, default: float, minimum: float, maximum: float
) -> float:
    """Parse query parameter `name`: `default` when absent, else a finite number in the bounds.

    Accepts decimal notation with an optional exponent ("0.5", "2", "1e3"). Raises
    `ValidationError` for anything else, including an empty value.
    """
    _check_default(default, minimum, maximum)
    if raw is None:
        return default
    if _FLOAT.fullmatch(raw):
        value = float(raw)
        if math.isfinite(value) and minimum <= value <= maximum:
            return value
    raise ValidationError(
        f"{name} must be a number between {minimum:g} and {maximum:g}, got {_preview(raw)}"
    )


def _check_default(default: float, minimum: float, maximum: float) -> None:
    # A bad default is the caller's bug, not the client's: plain ValueError, not a 400.
    if not minimum <= default <= maximum:
        raise ValueError(f"default {default} is outside [{minimum}, {maximum}]")
