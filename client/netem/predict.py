"""What the round trips of each protocol predict under a one-way delay d. Pure.

The physics a measured median is checked against (`bench --netem`):

========================  ==================================================================
rtt ws                    2d: a frame up, its echo down, on an open connection
rtt http                  2d: request up, response down, on a kept-alive connection
rtt sse                   2d: POST up to the room, the message down the open event stream
fresh HTTP connection     4d: TCP handshake (one round trip), then request and response
push ws, push sse         d: the server writes the tick to a connection that is open
push longpoll             d while a request is waiting at the server; a tick that comes while
                          the next request is on its way waits for it: worst 3d
push poll                 min(max(P, 2d), T)/2 + d: the tick waits for the next poll to
                          arrive (polls are P apart, or back to back when a round trip takes
                          longer); when polls are further apart than the ticks (T), a poll
                          finds the newest tick, on average T/2 old, and the others are lost
========================  ==================================================================

At a limited rate each crossing also takes size x 8 / rate to serialise; that is added.
Jitter adds 0..J to each crossing: J/2 on average, included in d.
"""

from __future__ import annotations

from dataclasses import dataclass

from client.netem.conditions import Conditions

__all__ = ["Prediction", "predict"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """A predicted median in milliseconds, the formula it came from, and the least any
    sample can take (`floor_ms`: a polled tick may be found at once, never before d)."""

    ms: float
    formula: str
    floor_ms: float


def predict(
    scenario: str,
    protocol: str,
    conditions: Conditions,
    *,
    size: int,
    poll_interval_ms: float = 0.0,
    tick_interval_ms: float = float("inf"),
) -> Prediction | None:
    """The median the physics predicts for one bench row, or None if it makes no claim."""
    d = conditions.delay_s * 1000
    serialise = size * 8 / conditions.rate_bps * 1000 if conditions.rate_bps else 0.0
    if scenario == "rtt" and protocol in ("ws", "http", "sse"):
        return Prediction(2 * d + 2 * serialise, "2d", 2 * d)
    if scenario == "push":
        if protocol in ("ws", "sse", "longpoll"):
            return Prediction(d + serialise, "d", d)
        if protocol == "poll":
            wait = min(max(poll_interval_ms, 2 * d), tick_interval_ms) / 2
            return Prediction(wait + d + serialise, "min(max(P,2d),T)/2+d", d)
    return None
