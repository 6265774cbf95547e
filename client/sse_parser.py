"""Incremental ``text/event-stream`` parser.

Follows WHATWG HTML "9.2.5 Parsing an event stream" and "9.2.6 Interpreting an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html). Pure: it turns
bytes into events and keeps no I/O, clock or network state.

Usage::

    parser = EventStreamParser()
    async for chunk in response.content.iter_any():
        for event in parser.feed(chunk):
            ...
    # on reconnect: send parser.last_event_id as Last-Event-ID, wait parser.retry_ms,
    # then parser.reset() and feed the new response body.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["EventStreamParser", "ServerSentEvent"]

# "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE
# FEED (LF) character not preceded by a U+000D CARRIAGE RETURN (CR) character, and a single
# U+000D CARRIAGE RETURN (CR) character not followed by a U+000A LINE FEED (LF) character
# being the ways in which a line can end."
_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event, as a browser's ``MessageEvent`` would see it.

    ``type`` is the ``event`` field (``"message"`` when absent or empty), ``data`` the
    joined ``data`` lines, ``last_event_id`` the stream's last event ID when the event was
    dispatched (it persists across events until an ``id`` field changes it), and ``retry``
    the reconnection time in milliseconds set by a valid ``retry`` field in this event's own
    block, or ``None``.
    """

    type: str = "message"
    data: str = ""
    last_event_id: str = ""
    retry: int | None = None


class EventStreamParser:
    """Turns the bytes of one or more event streams into :class:`ServerSentEvent` objects.

    Feed it response-body chunks split anywhere (inside a UTF-8 sequence, between the CR
    and LF of a CRLF, inside the BOM); the events returned are the same as for one chunk.
    An event is returned only once the blank line ending it has arrived: an unfinished
    event at the end of a stream is never dispatched (call :meth:`reset` before feeding
    the next connection's body).
    """

    __slots__ = (
        "_at_stream_start",
        "_block_retry",
        "_data_lines",
        "_decoder",
        "_event_type",
        "_id_buffer",
        "_last_event_id",
        "_line_parts",
        "_retry_ms",
        "_skip_lf",
    )

    def __init__(self, *, last_event_id: str = "") -> None:
        """Start a parser; ``last_event_id`` resumes from an ID saved earlier, if any."""
        self._last_event_id = last_event_id
        self._id_buffer = last_event_id
        self._retry_ms: int | None = None
        self.reset()

    @property
    def last_event_id(self) -> str:
        """The ID to send as ``Last-Event-ID`` on reconnect (``""`` means send none).

        This is the spec's "last event ID string": at every blank line it takes the value
        of the "last event ID buffer", which ``id`` fields set. An ``id`` in a block that
        never got its blank line therefore does not count, as in browsers.
        """
        return self._last_event_id

    @property
    def retry_ms(self) -> int | None:
        """The latest valid ``retry`` field in milliseconds, or ``None`` if none was seen."""
        return self._retry_ms

    def reset(self, *, last_event_id: str | None = None) -> None:
        """Forget the unfinished line and event, ready for a new connection's body.

        Keeps :attr:`last_event_id` and :attr:`retry_ms`, which belong to the event source
        rather than one connection; the new stream's ID buffer starts from the kept ID.
        A BOM at the start of the next stream is stripped again. Pass ``last_event_id``
        to resume from another ID instead (e.g. when the server's history was reset).
        """
        if last_event_id is not None:
            self._last_event_id = last_event_id
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_stream_start = True
        self._skip_lf = False
        self._line_parts: list[str] = []
        self._data_lines: list[str] = []
        self._event_type = ""
        self._block_retry: int | None = None
        self._id_buffer = self._last_event_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume the next bytes of the stream; return the events they complete, in order."""
        text = self._decode(chunk)
        if not text:
            return []
        if self._skip_lf:
            # The previous chunk ended in CR: an LF right after it is the same line end.
            self._skip_lf = False
            text = text.removeprefix("\n")
        events: list[ServerSentEvent] = []
        start = 0
        for match in _LINE_END.finditer(text):
            self._line_parts.append(text[start : match.start()])
            line = "".join(self._line_parts)
            self._line_parts.clear()
            if (event := self._process_line(line)) is not None:
                events.append(event)
            start = match.end()
        self._line_parts.append(text[start:])
        self._skip_lf = text.endswith("\r")
        return events

    def _decode(self, chunk: bytes) -> str:
        # "Streams must be decoded using the UTF-8 decode algorithm", which replaces bad
        # bytes with U+FFFD and strips one leading BOM from the whole stream only.
        text: str = self._decoder.decode(chunk)
        if self._at_stream_start and text:
            self._at_stream_start = False
            text = text.removeprefix(_BOM)
        return text

    def _process_line(self, line: str) -> ServerSentEvent | None:
        # "If the line is empty (a blank line): Dispatch the event".
        if not line:
            return self._dispatch()
        # "If the line starts with a U+003A COLON character (:): Ignore the line."
        if line.startswith(":"):
            return None
        # "Collect the characters on the line before the first U+003A COLON character (:)
        # ... If value starts with a U+0020 SPACE character, remove it from value."
        # "Otherwise, the string is not empty but does not contain a U+003A COLON character
        # (:): ... using the whole line as the field name, and the empty string as the
        # field value." partition() gives exactly that.
        name, _, value = line.partition(":")
        self._process_field(name, value.removeprefix(" "))
        return None

    def _process_field(self, name: str, value: str) -> None:
        match name:
            case "event":
                # "Set the event type buffer to the field value."
                self._event_type = value
            case "data":
                # "Append the field value to the data buffer, then append a single U+000A
                # LINE FEED (LF) character": kept as a list and joined at dispatch.
                self._data_lines.append(value)
            case "id":
                # "If the field value does not contain U+0000 NULL, then set the last event
                # ID buffer to the field value. Otherwise, ignore the field."
                if "\0" not in value:
                    self._id_buffer = value
            case "retry":
                # "If the field value consists of only ASCII digits, then interpret the
                # field value as an integer in base ten ... Otherwise, ignore the field."
                if value.isascii() and value.isdigit():
                    self._retry_ms = self._block_retry = int(value)
            case _:
                # "Otherwise: The field is ignored."
                pass

    def _dispatch(self) -> ServerSentEvent | None:
        # "Set the last event ID string of the event source to the value of the last event
        # ID buffer. The buffer does not get reset".
        self._last_event_id = self._id_buffer
        data_lines, event_type, retry = self._data_lines, self._event_type, self._block_retry
        self._data_lines, self._event_type, self._block_retry = [], "", None
        # "If the data buffer is an empty string, set the data buffer and the event type
        # buffer to the empty string and return." Each data line adds at least an LF, so
        # the buffer is empty exactly when no data line came.
        if not data_lines:
            return None
        # "If the data buffer's last character is a U+000A LINE FEED (LF) character, then
        # remove the last character": value+LF per line minus the final LF is a join.
        return ServerSentEvent(
            # "If the event type buffer has a value other than the empty string, change the
            # type of the newly created event to equal the value of the event type buffer."
            type=event_type or "message",
            data="\n".join(data_lines),
            last_event_id=self._last_event_id,
            retry=retry,
        )
