"""What the server tells a room client besides messages: the JSON shapes, defined once.

Every notice has a kind and a body. WebSocket sends it as one text frame `{"<kind>": body}`;
SSE as `event: <kind>` with `data: body`; HTTP polls as headers (see `docs/api.md`).

* `gap` `{"lost": n}`: n messages after your cursor are gone from history;
* `reset` `{"epoch": e, "reason": ...}`: your cursor is from another life of the room; its
  history follows from the start;
* `broker` `{"state": "down" | "up", "detail": ...}`: the shared room broker went away or
  came back; live messages pause meanwhile;
* `dropped` `{"reason": ...}`: the server ended your subscription (too slow);
* `error` `"..."`: your last message was refused.
"""

import json
from dataclasses import dataclass
from enum import StrEnum


class NoticeKind(StrEnum):
    """The kinds of notice (the value is the WebSocket key and the SSE event name)."""

    GAP = "gap"
    RESET = "reset"
    BROKER = "broker"
    DROPPED = "dropped"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice; `body` holds plain JSON types only."""

    kind: NoticeKind
    body: object

    @property
    def data(self) -> str:
        """The body as compact JSON (the SSE `data:`)."""
        return json.dumps(self.body, separators=(",", ":"))

    @property
    def frame(self) -> str:
        """The WebSocket text frame: `{"<kind>": body}`."""
        return json.dumps({self.kind.value: self.body}, separators=(",", ":"))


def gap(lost: int) -> Notice:
    """`lost` messages after the client's cursor fell out of the bounded history."""
    return Notice(NoticeKind.GAP, {"lost": lost})


def reset(epoch: str, reason: str) -> Notice:
    """The client's cursor belongs to another epoch; history of `epoch` follows."""
    return Notice(NoticeKind.RESET, {"epoch": epoch, "reason": reason})


def broker(up: bool, detail: str) -> Notice:
    """The room broker became unreachable (`up` False) or reachable again."""
    return Notice(NoticeKind.BROKER, {"state": "up" if up else "down", "detail": detail})


def dropped(reason: str) -> Notice:
    """The subscription was ended by the server."""
    return Notice(NoticeKind.DROPPED, {"reason": reason})


def error(message: str) -> Notice:
    """A refusal of the client's last message, with a sentence fit for the user."""
    return Notice(NoticeKind.ERROR, message)


RESET_REASON = "your cursor is from another life of this room (restart or lost broker data)"
