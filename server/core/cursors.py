"""Room cursors: where a client is in a room, and in which *life* of the room.

A room's messages are numbered 1, 2, 3, ... within an **epoch**: a short random name the room
gets when it is created (in memory: when the process first sees it; with Redis: when the
broker first stores it, or again after the broker lost its data). A server restart without a
shared broker, or a broker that lost its data, starts a new epoch where ids begin at 1 again.

The cursor a client resumes from is `<epoch>-<id>` (the SSE `id:`, the `after=` of a
WebSocket, the `since=` of a poll). The rule, in `plan_resume`:

* no cursor: live messages only;
* a cursor of the current epoch: the messages after its id; the ones history no longer holds
  are counted as `lost` (the `gap` notice);
* a cursor of another epoch, or an id beyond the room's last one: a **reset**. The client is
  told, then gets the current epoch's history from its start. Never a silent skip.
* a plain integer (older clients) is read in the current epoch: it cannot name its life, so
  an id at or below the room's last id is trusted; one beyond it is a reset as above.
"""

import re
import secrets
from dataclasses import dataclass

EPOCH_PATTERN = re.compile(r"[0-9a-z]{1,16}")
MAX_SEQ = 2**62


class CursorError(ValueError):
    """A cursor that is neither `<epoch>-<id>` nor a plain id; the message names the form."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in a room: message `seq` of `epoch` (None for a plain integer cursor)."""

    seq: int
    epoch: str | None = None

    def __str__(self) -> str:
        return f"{self.epoch}-{self.seq}" if self.epoch else str(self.seq)

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        """`"k3f9a2c1-17"` or `"17"`; raises `CursorError` for anything else."""
        epoch, dash, seq_text = text.strip().rpartition("-")
        if dash and not EPOCH_PATTERN.fullmatch(epoch):
            raise CursorError(_EXPECTED.format(text=text))
        if not seq_text.isascii() or not seq_text.isdigit() or int(seq_text) > MAX_SEQ:
            raise CursorError(_EXPECTED.format(text=text))
        return cls(int(seq_text), epoch or None)


_EXPECTED = (
    "expected a room cursor: <epoch>-<id> as sent in every message (e.g. 3f9a2c1b-17), "
    "or a plain message id 0..2^62, got {text!r}"
)


ORIGIN = Cursor(0)  # before the first message of any epoch


def new_epoch() -> str:
    """A fresh epoch name: 8 random hex digits (a collision needs ~65 000 lives of one room)."""
    return secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """What to send a client that resumes: ids after `after`, a reset first if `reset`."""

    after: int
    reset: bool
    lost: int


def plan_resume(cursor: Cursor, epoch: str, oldest: int, last: int) -> ResumePlan:
    """Apply the resume rule (module docstring) to a room whose history holds `oldest..last`.

    `oldest` is `last + 1` when the history is empty. `lost` counts the ids after the
    resume point that history no longer holds.
    """
    foreign = cursor.epoch is not None and cursor.epoch != epoch
    reset = foreign or cursor.seq > last
    after = 0 if reset else cursor.seq
    return ResumePlan(after, reset, max(0, oldest - (after + 1)))
