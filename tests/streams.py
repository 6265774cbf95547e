"""Reading event streams in tests, with the client's own WHATWG parser."""

import aiohttp

from client.sse_parser import EventStreamParser, ServerSentEvent


async def read_events(
    response: aiohttp.ClientResponse, parser: EventStreamParser, limit: int | None = None
) -> list[ServerSentEvent]:
    """Events until the stream ends, or the first `limit` events (the rest are dropped, as if
    the connection had been cut right after the last one returned)."""
    events: list[ServerSentEvent] = []
    async for chunk in response.content.iter_any():
        events.extend(parser.feed(chunk))
        if limit is not None and len(events) >= limit:
            return events[:limit]
    return events
