"""The refusal tree: one base, each refusal typed once with its status, close code and reason,
and the tree in the module docstring kept true."""

import pytest

from server.connections import ConnectionLimitReached
from server.core import refusals
from server.core.origins import OriginRefused
from server.core.ratelimit import RateLimited
from server.core.refusals import CloseCode, Reason, Refusal
from server.core.rooms import HubClosed, RoomError, RoomLimitReached
from server.core.validation import ValidationError


def every_refusal_class() -> set[type[Refusal]]:
    found: set[type[Refusal]] = set()
    todo: list[type[Refusal]] = [Refusal]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_refusal_is_drawn_in_the_tree() -> None:
    doc = refusals.__doc__ or ""
    branches = every_refusal_class() - {Refusal}
    missing = sorted(c.__name__ for c in branches if f"── {c.__name__} " not in doc)
    assert missing == []
    assert "    Refusal " in doc


@pytest.mark.parametrize(
    ("refusal", "status", "close_code", "reason"),
    [
        (ValidationError("bad"), 400, CloseCode.POLICY_VIOLATION, None),
        (OriginRefused("foreign"), 403, CloseCode.POLICY_VIOLATION, Reason.ORIGIN),
        (RateLimited(2, 0.25), 429, CloseCode.POLICY_VIOLATION, Reason.RATE_LIMIT),
        (RoomLimitReached(3), 503, CloseCode.TRY_AGAIN_LATER, Reason.MAX_ROOMS),
        (HubClosed(), 503, CloseCode.GOING_AWAY, None),
        (
            ConnectionLimitReached("full", Reason.MAX_CONNECTIONS_PER_IP),
            503,
            CloseCode.TRY_AGAIN_LATER,
            Reason.MAX_CONNECTIONS_PER_IP,
        ),
        (refusals.IdleTimeout(), 400, CloseCode.NORMAL, Reason.IDLE_TIMEOUT),
        (refusals.MessageTooBig(10, 5), 413, CloseCode.MESSAGE_TOO_BIG, Reason.WS_MESSAGE_TOO_BIG),
        (refusals.SlowConsumer(8), 400, CloseCode.POLICY_VIOLATION, Reason.SLOW_CONSUMER),
    ],
)
def test_each_refusal_carries_status_close_code_and_reason(
    refusal: Refusal, status: int, close_code: int, reason: Reason | None
) -> None:
    assert (refusal.status, refusal.close_code, refusal.reason) == (status, close_code, reason)
    assert refusal.body() == {"error": str(refusal)} or isinstance(refusal, RateLimited)


def test_room_errors_and_limits_say_when_to_retry() -> None:
    assert RoomError("busy").headers() == {"Retry-After": "1"}
    assert RateLimited(2, 1.2).headers() == {"Retry-After": "2"}
    assert RateLimited(2, 0.25).body() == {
        "error": "rate limit: at most 2 messages per second; retry in 0.25 s",
        "retry_after_s": 0.25,
    }


def test_handshake_refusals_name_what_to_use() -> None:
    assert refusals.NotWebSocket("/ws/echo").headers()["Upgrade"] == "websocket"
    assert refusals.UnsupportedVersion("99").headers() == {"Sec-WebSocket-Version": "13"}


def test_validation_error_is_still_a_value_error() -> None:
    assert isinstance(ValidationError("x"), ValueError)
