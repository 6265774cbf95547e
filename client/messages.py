"""Message payloads the commands send: given on the command line, read from a file or stdin,
or generated at a requested size. Pure apart from reading the file."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from client.errors import ClientError

__all__ = [
    "describe_payload",
    "file_lines",
    "from_iterable",
    "generated",
    "repeat",
    "text_payload",
]

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_PREVIEW = 60


def text_payload(size: int) -> str:
    """`size` readable ASCII characters (so also `size` bytes): abc...xyz0..9abc..."""
    return "".join(itertools.islice(itertools.cycle(_ALPHABET), size))


def generated(size: int, count: int, *, binary: bool) -> list[str | bytes]:
    """`count` payloads of `size` bytes: random bytes for binary, readable text otherwise."""
    return [os.urandom(size) if binary else text_payload(size) for _ in range(count)]


def repeat(messages: Iterable[str], count: int, *, binary: bool) -> list[str | bytes]:
    """The messages in order, the whole list `count` times; UTF-8 encoded if `binary`."""
    items = list(messages)
    return [m.encode() if binary else m for _ in range(count) for m in items]


def file_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (without line ends); raises `ClientError` if unreadable."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ClientError(f"cannot read {path}: {reason}") from None


async def from_iterable(items: Iterable[str | bytes]) -> AsyncIterator[str | bytes]:
    """`items` as an async iterator, so lists and stdin look the same to a command."""
    for item in items:
        yield item


def describe_payload(data: str | bytes) -> str:
    """A short human rendering: the text itself, or ``<12 bytes: 00 ff ...>`` for binary."""
    if isinstance(data, str):
        return data if len(data) <= _PREVIEW else f"{data[:_PREVIEW]}… ({len(data)} chars)"
    head = data[:16].hex(" ")
    more = " …" if len(data) > 16 else ""
    return f"<{len(data)} bytes: {head}{more}>"
