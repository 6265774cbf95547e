"""Room cursors and the resume rule: pure functions, no event loop."""

import pytest

from server.core.cursors import Cursor, CursorError, ResumePlan, plan_resume


@pytest.mark.parametrize(
    ("text", "cursor"),
    [("17", Cursor(17)), ("0", Cursor(0)), ("3f9a2c1b-17", Cursor(17, "3f9a2c1b"))],
)
def test_parse_and_print_round_trip(text: str, cursor: Cursor) -> None:
    assert Cursor.parse(text) == cursor
    assert str(cursor) == text


@pytest.mark.parametrize(
    "text", ["", "-1", "x", "ab-", "AB-3", "a_b-3", "1.5", "e-" + "9" * 30, "٣", "a-b-3"]
)
def test_parse_refuses_anything_else(text: str) -> None:
    with pytest.raises(CursorError, match="expected a room cursor"):
        Cursor.parse(text)


@pytest.mark.parametrize(
    ("cursor", "plan"),
    [
        # The room is in epoch "e" and history holds ids 6..10.
        (Cursor(7, "e"), ResumePlan(after=7, reset=False, lost=0)),
        (Cursor(10, "e"), ResumePlan(after=10, reset=False, lost=0)),
        (Cursor(2, "e"), ResumePlan(after=2, reset=False, lost=3)),
        (Cursor(7, "old"), ResumePlan(after=0, reset=True, lost=5)),
        (Cursor(11, "e"), ResumePlan(after=0, reset=True, lost=5)),
        (Cursor(7), ResumePlan(after=7, reset=False, lost=0)),  # plain: trusted up to last
        (Cursor(99), ResumePlan(after=0, reset=True, lost=5)),  # plain and ahead: a reset
    ],
)
def test_resume_rule(cursor: Cursor, plan: ResumePlan) -> None:
    assert plan_resume(cursor, "e", oldest=6, last=10) == plan


def test_empty_room_resets_foreign_cursor_and_loses_nothing() -> None:
    assert plan_resume(Cursor(4, "old"), "e", oldest=1, last=0) == ResumePlan(0, True, 0)
