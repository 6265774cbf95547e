"""The tick text formatted once per stream is the JSON of `tick_payload`, byte for byte."""

import json

import pytest

from server.core.ticks import TickText, tick_payload


@pytest.mark.parametrize("size", [0, 1, 64, 4096])
@pytest.mark.parametrize("seq", [1, 42, 2**62])
def test_tick_text_is_the_compact_json_of_the_payload(seq: int, size: int) -> None:
    expected = json.dumps(tick_payload(seq, size, 1_700_000_000_123), separators=(",", ":"))
    assert TickText(size)(seq, 1_700_000_000_123) == expected


def test_tick_text_stamps_the_current_time_by_default() -> None:
    body = json.loads(TickText(3)(7))
    assert body["seq"] == 7
    assert body["pad"] == "xxx"
    assert body["ts"] > 1_600_000_000_000
