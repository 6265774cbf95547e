"""The notice shapes every protocol sends, defined once in server/core/notices.py."""

import json

from server.core import notices


def test_websocket_frame_and_sse_data_share_the_body() -> None:
    gap = notices.gap(4)
    assert json.loads(gap.frame) == {"gap": {"lost": 4}}
    assert json.loads(gap.data) == {"lost": 4}
    assert gap.kind.value == "gap"


def test_every_kind_has_its_shape() -> None:
    assert json.loads(notices.reset("e1", "why").frame) == {
        "reset": {"epoch": "e1", "reason": "why"}
    }
    assert json.loads(notices.broker(False, "x").data) == {"state": "down", "detail": "x"}
    assert json.loads(notices.broker(True, "x").data)["state"] == "up"
    assert json.loads(notices.dropped("slow consumer").frame) == {
        "dropped": {"reason": "slow consumer"}
    }
    assert json.loads(notices.error("no").frame) == {"error": "no"}
