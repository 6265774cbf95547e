"""Input rules: what is accepted, and the exact message for what is not."""

from collections.abc import Callable

import pytest

from server.core.validation import (
    ChatInput,
    Limits,
    ValidationError,
    parse_chat_message,
    parse_float_param,
    parse_int_param,
    validate_room_name,
)

LIMITS = Limits()

# --- room names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "lobby", "Room_1", "x-y_z", "0", "a" * 64])
def test_valid_room_names(name: str) -> None:
    assert validate_room_name(name) == name


ROOM_RULE = "room name must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-', got "


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "room name is required"),
        ("", "room name is required"),
        (42, "room name must be a string, got number"),
        (["lobby"], "room name must be a string, got array"),
        ("a" * 65, ROOM_RULE + "'" + "a" * 38 + "…"),
        ("has space", ROOM_RULE + "'has space'"),
        ("dot.ted", ROOM_RULE + "'dot.ted'"),
        ("../etc", ROOM_RULE + "'../etc'"),
        ("café", ROOM_RULE + "'café'"),
        ("lobby\n", ROOM_RULE + "'lobby\\n'"),
    ],
)
def test_invalid_room_names(name: object, message: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_room_name(name)
    assert str(excinfo.value) == message


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(ValidationError, ValueError)


# --- chat messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"user": "ann", "text": "hi"}', ChatInput("ann", "hi")),
        (b'{"user": "ann", "text": "hi"}', ChatInput("ann", "hi")),
        ({"user": "ann", "text": "hi"}, ChatInput("ann", "hi")),
        ('{"user": "ann", "text": "hi", "room": "x", "n": 1}', ChatInput("ann", "hi")),
        ('{"user": " ann ", "text": "  padded  "}', ChatInput(" ann ", "  padded  ")),
        (
            '{"user": "ann", "text": "two\\nlines\\tand tab"}',
            ChatInput("ann", "two\nlines\tand tab"),
        ),
        ('{"user": "Zoë", "text": "ünïcödé ✓"}', ChatInput("Zoë", "ünïcödé ✓")),
        ('{"user": "é", "text": "x"}'.encode(), ChatInput("é", "x")),
        ({"user": "u" * 32, "text": "t" * 4096}, ChatInput("u" * 32, "t" * 4096)),
    ],
)
def test_valid_chat_messages(raw: object, expected: ChatInput) -> None:
    assert parse_chat_message(raw, LIMITS) == expected


OBJECT = 'expected a JSON object with "user" and "text"'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("{user: 1}", "body is not valid JSON: Expecting property name enclosed in double quotes"),
        (b"\xff{}", "body is not valid UTF-8: invalid start byte at byte 0"),
        ("[1, 2]", OBJECT + ", got array"),
        ('"hi"', OBJECT + ", got string"),
        ("null", OBJECT + ", got null"),
        (7, OBJECT + ", got number"),
        (None, OBJECT + ", got null"),
        ({"text": "hi"}, OBJECT + '; "user" is missing'),
        ({"user": "ann"}, OBJECT + '; "text" is missing'),
        ({"user": 1, "text": "hi"}, "user must be a string, got number"),
        ({"user": "ann", "text": None}, "text must be a string, got null"),
        ({"user": "ann", "text": True}, "text must be a string, got boolean"),
        ({"user": "ann", "text": {"a": 1}}, "text must be a string, got object"),
        ({"user": "", "text": "hi"}, "user must be 1-32 characters, got 0"),
        ({"user": "u" * 33, "text": "hi"}, "user must be 1-32 characters, got 33"),
        ({"user": "ann", "text": ""}, "text must be 1-4096 characters, got 0"),
        ({"user": "ann", "text": "t" * 5000}, "text must be 1-4096 characters, got 5000"),
        ({"user": "   ", "text": "hi"}, "user must not be only whitespace"),
        ({"user": "ann", "text": " \n\t "}, "text must not be only whitespace"),
        ({"user": "a\nb", "text": "hi"}, "user must not contain control characters"),
        ({"user": "a\x00", "text": "hi"}, "user must not contain control characters"),
    ],
)
def test_invalid_chat_messages(raw: object, message: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_chat_message(raw, LIMITS)
    assert str(excinfo.value).startswith(message)


def test_limits_are_configurable() -> None:
    tight = Limits(max_user=3, max_text=5)
    assert parse_chat_message({"user": "abc", "text": "12345"}, tight) == ChatInput("abc", "12345")
    with pytest.raises(ValidationError, match="text must be 1-5 characters, got 6"):
        parse_chat_message({"user": "abc", "text": "123456"}, tight)


# --- query parameters -------------------------------------------------------------------------


def parse_interval(raw: str | None) -> int:
    return parse_int_param("interval", raw, default=1000, minimum=0, maximum=60000)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 1000), ("0", 0), ("60000", 60000), ("250", 250), ("+5", 5), ("007", 7)],
)
def test_int_param_accepts(raw: str | None, expected: int) -> None:
    assert parse_interval(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["abc", "", " 5", "5 ", "1_000", "1.5", "1e3", "-1", "60001", "٣", "9" * 40, "0x10"],
)
def test_int_param_rejects(raw: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_interval(raw)
    shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:39] + "…"
    assert str(excinfo.value) == f"interval must be an integer between 0 and 60000, got {shown}"


def test_int_param_message_example() -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_interval("abc")
    assert str(excinfo.value) == "interval must be an integer between 0 and 60000, got 'abc'"


def parse_timeout(raw: str | None) -> float:
    return parse_float_param("timeout", raw, default=25.0, minimum=0.0, maximum=60.0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 25.0),
        ("0", 0.0),
        ("60", 60.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e1", 10.0),
    ],
)
def test_float_param_accepts(raw: str | None, expected: float) -> None:
    assert parse_timeout(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["abc", "", "nan", "inf", "-inf", "1e999", "60.5", "-0.1", " 1", "1_0", "0x1", "."],
)
def test_float_param_rejects(raw: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_timeout(raw)
    assert str(excinfo.value) == f"timeout must be a number between 0 and 60, got {raw!r}"


@pytest.mark.parametrize("parse", [parse_int_param, parse_float_param])
def test_default_outside_bounds_is_a_programming_error(parse: Callable[..., object]) -> None:
    with pytest.raises(ValueError, match="default 5 is outside") as excinfo:
        parse("n", None, default=5, minimum=0, maximum=1)
    assert not isinstance(excinfo.value, ValidationError)


def test_a_number_with_more_digits_than_python_parses_is_a_validation_error() -> None:
    raw = '{"user": "u", "text": "t", "extra": ' + "9" * 5001 + "}"
    with pytest.raises(ValidationError, match="more digits"):
        parse_chat_message(raw, Limits())
