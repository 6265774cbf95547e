"""Table-driven tests for client.sse_parser against WHATWG HTML 9.2.5-9.2.6.

Every stream in STREAMS is parsed in one chunk, byte by byte, in 2- and 3-byte chunks and
split at every possible point; all must give the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from client.sse_parser import EventStreamParser, ServerSentEvent

E = ServerSentEvent
BOM = b"\xef\xbb\xbf"

# pytest.param(stream bytes, expected events, id=...)
STREAMS = [
    # Dispatch and data
    pytest.param(b"data: hello\n\n", [E(data="hello")], id="single-data"),
    pytest.param(b"data: a\ndata: b\n\n", [E(data="a\nb")], id="data-lines-joined-by-lf"),
    pytest.param(b"data:\n\n", [E(data="")], id="data-empty-value-colon"),
    pytest.param(b"data\n\n", [E(data="")], id="data-no-colon-is-empty-value"),
    pytest.param(b"data\ndata\n\n", [E(data="\n")], id="two-empty-data-lines"),
    pytest.param(b"data: a\ndata:\n\n", [E(data="a\n")], id="data-trailing-lf-kept-but-one"),
    pytest.param(b"data: a\x00b\n\n", [E(data="a\x00b")], id="nul-in-data-kept"),
    pytest.param(b"data: 1\n\ndata: 2\n\n", [E(data="1"), E(data="2")], id="several-events"),
    # spec 9.2.6 example: "data:test" and "data: test" are the same event
    pytest.param(
        b"data:test\n\ndata: test\n\n", [E(data="test"), E(data="test")], id="spec-space-example"
    ),
    # spec 9.2.6 example: "", "\n", and the last block is dropped at end of stream
    pytest.param(
        b"data\n\ndata\ndata\n\ndata:", [E(data=""), E(data="\n")], id="spec-empty-data-example"
    ),
    # Field / value split
    pytest.param(
        b"data:  two spaces\n\n", [E(data=" two spaces")], id="one-leading-space-removed"
    ),
    pytest.param(b"data:nospace\n\n", [E(data="nospace")], id="no-space-needed"),
    pytest.param(b"data:\tx\n\n", [E(data="\tx")], id="tab-is-not-space"),
    pytest.param(b"data: a:b: c\n\n", [E(data="a:b: c")], id="split-on-first-colon"),
    pytest.param(b"data: x \n\n", [E(data="x ")], id="trailing-space-kept"),
    pytest.param(b"data : x\n\n", [], id="space-before-colon-is-other-field"),
    pytest.param(b"Data: x\n\n", [], id="field-names-case-sensitive"),
    # Comments
    pytest.param(b": ping\ndata: x\n:\n\n", [E(data="x")], id="comment-ignored"),
    pytest.param(b": keepalive\n\n", [], id="comment-only-block-no-event"),
    pytest.param(b":data: x\n\n", [], id="comment-not-data"),
    # Event type
    pytest.param(b"event: add\ndata: 1\n\n", [E(type="add", data="1")], id="event-type"),
    pytest.param(
        b"event: a\nevent: b\ndata: 1\n\n", [E(type="b", data="1")], id="event-last-one-wins"
    ),
    pytest.param(
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [E(type="add", data="1"), E(data="2")],
        id="event-type-resets",
    ),
    pytest.param(b"event:\ndata: x\n\n", [E(data="x")], id="event-empty-is-message"),
    pytest.param(
        b"event: Message \ndata: x\n\n",
        [E(type="Message ", data="x")],
        id="event-type-kept-verbatim",
    ),
    # "If the data buffer is an empty string, set the data buffer and the event type
    # buffer to the empty string and return."
    pytest.param(b"event: add\n\ndata: x\n\n", [E(data="x")], id="no-data-resets-event-type"),
    pytest.param(b"\n\n\r\n\r", [], id="blank-lines-alone-no-event"),
    # id
    pytest.param(b"id: 1\ndata: a\n\n", [E(data="a", last_event_id="1")], id="id-sets-id"),
    pytest.param(
        b"id: 1\ndata: a\n\ndata: b\n\n",
        [E(data="a", last_event_id="1"), E(data="b", last_event_id="1")],
        id="id-persists",
    ),
    pytest.param(
        b"data: a\nid: 9\n\n",
        [E(data="a", last_event_id="9")],
        id="id-after-data-in-block",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid:\ndata: b\n\n",
        [E(data="a", last_event_id="1"), E(data="b", last_event_id="")],
        id="empty-id-resets",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid\ndata: b\n\n",
        [E(data="a", last_event_id="1"), E(data="b", last_event_id="")],
        id="id-without-colon-resets",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [E(data="a", last_event_id="1"), E(data="b", last_event_id="1")],
        id="id-with-nul-ignored",
    ),
    pytest.param(
        b"id: 7\n\ndata: x\n\n", [E(data="x", last_event_id="7")], id="id-only-block-sets-id"
    ),
    pytest.param(
        "id: é€\ndata: x\n\n".encode(), [E(data="x", last_event_id="é€")], id="id-unicode"
    ),
    # retry
    pytest.param(b"retry: 1500\ndata: x\n\n", [E(data="x", retry=1500)], id="retry-valid"),
    pytest.param(b"retry: 007\ndata: x\n\n", [E(data="x", retry=7)], id="retry-leading-zeros"),
    pytest.param(b"retry: 0\ndata: x\n\n", [E(data="x", retry=0)], id="retry-zero"),
    pytest.param(
        b"retry: 5\ndata: a\n\ndata: b\n\n",
        [E(data="a", retry=5), E(data="b")],
        id="retry-only-this-block",
    ),
    pytest.param(b"retry: 1.5\ndata: x\n\n", [E(data="x")], id="retry-float-ignored"),
    pytest.param(b"retry: -1\ndata: x\n\n", [E(data="x")], id="retry-negative-ignored"),
    pytest.param(b"retry: +1\ndata: x\n\n", [E(data="x")], id="retry-plus-ignored"),
    pytest.param(b"retry: 12a\ndata: x\n\n", [E(data="x")], id="retry-letters-ignored"),
    pytest.param(b"retry:\ndata: x\n\n", [E(data="x")], id="retry-empty-ignored"),
    pytest.param(b"retry:  10\ndata: x\n\n", [E(data="x")], id="retry-two-spaces-ignored"),
    pytest.param(
        "retry: ١٢\ndata: x\n\n".encode(), [E(data="x")], id="retry-non-ascii-digits-ignored"
    ),
    pytest.param("retry: ²\ndata: x\n\n".encode(), [E(data="x")], id="retry-superscript-ignored"),
    # Unknown fields
    pytest.param(b"foo: bar\ndata: x\n\n", [E(data="x")], id="unknown-field-ignored"),
    pytest.param(b"foo: bar\n\n", [], id="unknown-field-only-no-event"),
    # Line endings
    pytest.param(b"data: a\r\ndata: b\r\n\r\n", [E(data="a\nb")], id="crlf"),
    pytest.param(b"data: a\rdata: b\r\r", [E(data="a\nb")], id="cr"),
    pytest.param(b"data: a\rdata: b\r\ndata: c\n\r\n", [E(data="a\nb\nc")], id="mixed-endings"),
    pytest.param(b"data: a\r\n\n", [E(data="a")], id="crlf-then-lf-blank"),
    pytest.param(b"data: a\n\r\n", [E(data="a")], id="lf-then-crlf-blank"),
    pytest.param(b"data: a\r\r\n", [E(data="a")], id="cr-then-crlf-blank"),
    pytest.param(
        b"data: a\n\rdata: b\n\n", [E(data="a"), E(data="b")], id="lf-cr-is-two-line-ends"
    ),
    pytest.param(b"data: a\r\r\n\ndata: b\n\n", [E(data="a"), E(data="b")], id="cr-cr-lf-lf"),
    # Encoding
    pytest.param("data: café 😀 ✓\n\n".encode(), [E(data="café 😀 ✓")], id="utf8-multibyte"),
    pytest.param(b"data: \xff\xfe\n\n", [E(data="\ufffd\ufffd")], id="invalid-utf8-replaced"),
    pytest.param(
        b"data: \xe2\x82\n\n", [E(data="\ufffd")], id="truncated-sequence-one-replacement"
    ),
    pytest.param(b"data: \xf0\x9f\x98x\n\n", [E(data="\ufffdx")], id="truncated-then-ascii"),
    pytest.param(BOM + b"data: a\n\n", [E(data="a")], id="bom-stripped"),
    pytest.param(BOM + BOM + b"data: a\n\n", [], id="only-one-bom-stripped"),
    # WPT eventsource/format-bom: a BOM later in the stream is part of the field name
    pytest.param(
        BOM + b"data:1\n\n" + BOM + b"data:2\n\ndata:3\n\n",
        [E(data="1"), E(data="3")],
        id="mid-stream-bom-kept",
    ),
    pytest.param(b"data: " + BOM + b"x\n\n", [E(data="\ufeffx")], id="bom-inside-data-kept"),
    # WPT eventsource/format-bom-utf-16: always UTF-8, so this is garbage then "2"
    pytest.param(b"\xff\xfedata:1\n\ndata:2\n\n", [E(data="2")], id="utf16-bom-not-honoured"),
    # End of stream: "If the file ends in the middle of an event, before the final empty
    # line, the incomplete event is not dispatched."
    pytest.param(b"data: a\n\ndata: b", [E(data="a")], id="incomplete-no-newline"),
    pytest.param(b"data: a\n\ndata: b\n", [E(data="a")], id="incomplete-one-newline"),
    pytest.param(b"data: a\n\ndata: b\r", [E(data="a")], id="incomplete-trailing-cr"),
    pytest.param(b"", [], id="empty-stream"),
]

CHUNKERS: dict[str, Callable[[bytes], list[bytes]]] = {
    "one-chunk": lambda raw: [raw],
    "byte-by-byte": lambda raw: [raw[i : i + 1] for i in range(len(raw))],
    "2-byte-chunks": lambda raw: [raw[i : i + 2] for i in range(0, len(raw), 2)],
    "3-byte-chunks": lambda raw: [raw[i : i + 3] for i in range(0, len(raw), 3)],
    "empty-chunks-between": lambda raw: [part for byte in raw for part in (b"", bytes([byte]))],
}


def parse(chunks: Iterable[bytes], parser: EventStreamParser | None = None) -> list[E]:
    parser = parser if parser is not None else EventStreamParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


@pytest.mark.parametrize("chunker", CHUNKERS.values(), ids=CHUNKERS.keys())
@pytest.mark.parametrize(("stream", "expected"), STREAMS)
def test_stream(stream: bytes, expected: list[E], chunker: Callable[[bytes], list[bytes]]) -> None:
    assert parse(chunker(stream)) == expected


@pytest.mark.parametrize(("stream", "expected"), STREAMS)
def test_every_two_way_split_matches(stream: bytes, expected: list[E]) -> None:
    for cut in range(len(stream) + 1):
        assert parse([stream[:cut], stream[cut:]]) == expected, f"split at byte {cut}"


# pytest.param(stream bytes, last_event_id after, retry_ms after, id=...)
FINAL_STATE = [
    pytest.param(b"", "", None, id="fresh"),
    pytest.param(b"id: 4\nretry: 250\ndata: x\n\n", "4", 250, id="id-and-retry"),
    pytest.param(b"id: 4\n\n", "4", None, id="no-data-block-still-commits-id"),
    pytest.param(b"id: 1\n\nid: 2\ndata: x\n", "1", None, id="pending-id-not-committed"),
    pytest.param(b"retry: 99\n", "", 99, id="retry-applies-before-blank-line"),
    pytest.param(b"retry: 1\nretry: 2\nretry: x\n\n", "", 2, id="latest-valid-retry-wins"),
    pytest.param(b"id: 1\n\nid\n\n", "", None, id="empty-id-clears"),
    pytest.param(b"id: 1\n\nid: \x00\n\n", "1", None, id="nul-id-keeps-previous"),
]


@pytest.mark.parametrize(("stream", "last_event_id", "retry_ms"), FINAL_STATE)
def test_parser_state_after_stream(
    stream: bytes, last_event_id: str, retry_ms: int | None
) -> None:
    parser = EventStreamParser()
    parse([stream], parser)
    assert (parser.last_event_id, parser.retry_ms) == (last_event_id, retry_ms)


def test_cr_at_chunk_end_then_lf_is_one_line_end() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"") == []
    assert parser.feed(b"\n") == []  # the LF of "\r\n", not a blank line
    assert parser.feed(b"\r") == [E(data="a")]  # the blank line dispatches at once
    assert parser.feed(b"\ndata: b\n\n") == [E(data="b")]


def test_event_is_returned_as_soon_as_its_blank_line_arrives() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\n") == [E(data="a")]


def test_reset_keeps_id_and_retry_drops_partial_event() -> None:
    # Like WPT eventsource/format-data-before-final-empty-line: the unfinished block's id
    # must neither reach the next connection nor be sent as Last-Event-ID.
    parser = EventStreamParser()
    first = parse([b"id: 1\nretry: 300\ndata: a\n\nid: 2\nevent: x\ndata: part"], parser)
    assert first == [E(data="a", last_event_id="1", retry=300)]
    parser.reset()
    assert (parser.last_event_id, parser.retry_ms) == ("1", 300)
    # "ial" is now a line of its own: an unknown field, not the rest of "data: part".
    assert parser.feed(b"ial\n\ndata: b\n\n") == [E(data="b", last_event_id="1")]


def test_reset_strips_bom_of_next_stream() -> None:
    parser = EventStreamParser()
    assert parser.feed(BOM + b"data: a\n\n") == [E(data="a")]
    parser.reset()
    assert parser.feed(BOM + b"data: b\n\n") == [E(data="b")]


def test_reset_drops_partial_utf8_sequence() -> None:
    parser = EventStreamParser()
    parser.feed(b"data: \xe2\x82")
    parser.reset()
    assert parser.feed(b"\xacdata: b\n\n") == []  # a lone continuation byte is garbage
    assert parser.feed(b"data: c\n\n") == [E(data="c")]


def test_initial_last_event_id_is_used_until_changed() -> None:
    parser = EventStreamParser(last_event_id="41")
    assert parser.last_event_id == "41"
    events = parse([b"data: a\n\nid: 42\ndata: b\n\n"], parser)
    assert events == [E(data="a", last_event_id="41"), E(data="b", last_event_id="42")]


def test_event_defaults_and_immutability() -> None:
    event = E(data="x")
    assert (event.type, event.last_event_id, event.retry) == ("message", "", None)
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]
