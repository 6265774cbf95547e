"""A browser's `EventSource`, for asyncio: connect, parse, reconnect with Last-Event-ID.

Follows WHATWG HTML 9.2 "Server-sent events":

* the request carries ``Accept: text/event-stream``, ``Cache-Control: no-cache`` and, once
  an event had an id, ``Last-Event-ID`` (9.2.2, "the last event ID string");
* a 200 response whose Content-Type is ``text/event-stream`` opens the stream ("announce
  the connection"); any other response -- 204 included -- "fails the connection": no more
  reconnection attempts. A 204 is how a server says "no more events", so it ends the
  stream quietly (`StreamEnded`); anything else is an error (`ProtocolFailure`);
* a network error or the end of the response body "reestablishes the connection": wait the
  reconnection time (the latest ``retry:`` field, else 3 s as in Chromium) and, as the spec
  allows ("Optionally, wait some more"), add exponential backoff with jitter while attempts
  keep failing.

`open_event_stream` and `iter_events` are the one-connection steps; `EventSource` adds the
reconnection loop on top of them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

import aiohttp
from yarl import URL

from client.errors import ConnectionLost, ProtocolFailure, StreamEnded, describe
from client.reconnect import Reconnector, StateReport, quiet
from client.sse_parser import EventStreamParser, ServerSentEvent

__all__ = ["DEFAULT_RETRY_MS", "EventSource", "iter_events", "open_event_stream"]

# "The reconnection time ... Initially, the reconnection time must be set to an
# implementation-defined value, probably in the region of a few seconds." Chromium uses 3 s.
DEFAULT_RETRY_MS = 3000
_ERROR_BODY_LIMIT = 300


async def open_event_stream(
    session: aiohttp.ClientSession, url: URL, parser: EventStreamParser
) -> aiohttp.ClientResponse:
    """Send the EventSource request for `url` and return the open 200 event-stream response.

    Resumes after ``parser.last_event_id`` when it is set, and resets `parser` for the new
    body. Raises `ConnectionLost` (network error: reconnect), `StreamEnded` (204: stop) or
    `ProtocolFailure` (any other status or content type: stop).
    """
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if parser.last_event_id:
        headers["Last-Event-ID"] = parser.last_event_id
    try:
        response = await session.get(url, headers=headers)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ConnectionLost(describe(exc)) from None
    if response.status == 204:
        response.release()
        raise StreamEnded("the server answered 204 No Content: the stream has no more events")
    if response.status != 200:
        raise ProtocolFailure(f"HTTP {response.status} from {url}: {await _error_text(response)}")
    if response.content_type != "text/event-stream":
        response.release()
        raise ProtocolFailure(
            f"{url} answered {response.content_type!r}, not text/event-stream: "
            "it is not an event stream"
        )
    parser.reset()
    return response


async def iter_events(
    response: aiohttp.ClientResponse, parser: EventStreamParser
) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of one response body, in order; ends when the server ends the body.

    Raises `ConnectionLost` if the connection breaks in the middle of the body.
    """
    try:
        async for chunk in response.content.iter_any():
            for event in parser.feed(chunk):
                yield event
    except (aiohttp.ClientError, OSError) as exc:
        raise ConnectionLost(describe(exc)) from None


async def _error_text(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.text(errors="replace")
    except (aiohttp.ClientError, OSError):
        body = ""
    finally:
        response.release()
    one_line = " ".join(body.split())  # errors are reported on one line
    return one_line[:_ERROR_BODY_LIMIT] or response.reason or "no body"


class EventSource:
    """An event source that reconnects as a browser does; iterate :meth:`events`.

    ``first_url`` (e.g. with ``?after=ID``) is used while no event id has been seen; once
    one has, reconnections use ``url`` and ``Last-Event-ID``, which is then the newer cursor.
    ``before_reconnect`` is awaited before every reconnection attempt; a string it returns
    becomes the last event ID to resume from.
    With ``fail_fast=True`` (the CLI's choice) a first connection that cannot be made
    raises `ConnectionLost` instead of retrying forever: the user mistyped the URL or forgot
    to start the server. Once connected, network failures are always retried.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        reconnector: Reconnector,
        *,
        report: StateReport = quiet,
        last_event_id: str = "",
        first_url: URL | None = None,
        fail_fast: bool = True,
        before_reconnect: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self.url = url
        self._first_url = first_url
        self.parser = EventStreamParser(last_event_id=last_event_id)
        self.reconnector = reconnector
        self.connections = 0
        self._session = session
        self._report = report
        self._fail_fast = fail_fast
        self._opened: aiohttp.ClientResponse | None = None
        self._before_reconnect = before_reconnect

    async def open(self) -> None:
        """Make the first connection now rather than at the first iteration.

        Raises what the first connection attempt raises (see :meth:`events`).
        """
        self._opened = await self._connect()

    @property
    def retry_s(self) -> float:
        """The reconnection time in seconds: the server's latest ``retry:``, else 3 s."""
        retry_ms = self.parser.retry_ms
        return (DEFAULT_RETRY_MS if retry_ms is None else retry_ms) / 1000

    async def events(self) -> AsyncGenerator[ServerSentEvent, None]:
        """Every event, across reconnections, until the server sends 204 or fails us.

        Ends normally on 204; raises `ProtocolFailure` when the connection is failed and
        `ConnectionLost` when a first connection (with ``fail_fast``) or the attempt limit
        fails.
        """
        previous_failed = False
        while True:
            try:
                response = self._opened or await self._connect()
                self._opened = None
            except StreamEnded as exc:
                self._report("closed", str(exc), reason=str(exc))
                return
            except ConnectionLost as exc:
                if self._fail_fast and not self.connections:
                    raise
                await self._pause(str(exc), failed=previous_failed)
                previous_failed = True
                continue
            previous_failed = False
            try:
                async with aclosing(iter_events(response, self.parser)) as stream:
                    async for event in stream:
                        yield event
                reason = "the server ended the stream"
            except ConnectionLost as exc:
                reason = f"connection lost: {exc}"
            finally:
                response.release()
            await self._pause(reason, failed=False)

    async def _connect(self) -> aiohttp.ClientResponse:
        last_id = self.parser.last_event_id
        url = self.url if last_id or self._first_url is None else self._first_url
        resume = f" (Last-Event-ID: {last_id})" if last_id else ""
        self._report(
            "connecting",
            f"connecting to {url}{resume}",
            url=str(url),
            last_event_id=last_id or None,
        )
        response = await open_event_stream(self._session, url, self.parser)
        self.connections += 1
        self.reconnector.connected()
        self._report("open", f"connected to {url}", url=str(url))
        return response

    async def _pause(self, reason: str, *, failed: bool) -> None:
        # "Wait a delay equal to the reconnection time of the event source. Optionally, wait
        # some more. In particular, if the previous attempt failed, then user agents might
        # introduce an exponential backoff delay".
        await self.reconnector.wait(reason, floor_s=self.retry_s, backoff=failed)
        if self._before_reconnect is not None:
            resume_from = await self._before_reconnect()
            if resume_from is not None:
                self.parser.reset(last_event_id=resume_from)
