"""Counters for `/api/stats`: what each protocol carried, and what the server refused.

The handlers report events here (a connection opened, a message of n bytes went out, a
request was refused and why); nothing else keeps counts. Byte counts are application payload
bytes (the message body, the SSE event text, the HTTP body): framing and headers are measured
separately by the client's `bench overhead`, which counts real bytes on the wire.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from server.core.protocols import WireProtocol


@dataclass(slots=True)
class ProtocolCounters:
    """Counters of one protocol. For HTTP a "connection" is one request in progress."""

    open: int = 0
    total: int = 0
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


class Metrics:
    """Process-wide counters, owned by one application instance."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._counters = {protocol: ProtocolCounters() for protocol in WireProtocol}
        self._refusals: Counter[str] = Counter()
        self._departed = 0

    def opened(self, protocol: WireProtocol) -> None:
        """A connection (or, for HTTP, a request) started."""
        counters = self._counters[protocol]
        counters.open += 1
        counters.total += 1

    def closed(self, protocol: WireProtocol) -> None:
        """A connection (or request) counted by `opened` ended."""
        self._counters[protocol].open -= 1

    def received(self, protocol: WireProtocol, nbytes: int) -> None:
        """One message of `nbytes` payload bytes arrived from a client."""
        counters = self._counters[protocol]
        counters.messages_in += 1
        counters.bytes_in += nbytes

    def received_bytes(self, protocol: WireProtocol, nbytes: int) -> None:
        """More payload bytes of a message already counted by `received` (an HTTP body,
        counted once it has been read, not by the Content-Length it claimed)."""
        self._counters[protocol].bytes_in += nbytes

    def sent(self, protocol: WireProtocol, nbytes: int) -> None:
        """One message of `nbytes` payload bytes went to a client."""
        counters = self._counters[protocol]
        counters.messages_out += 1
        counters.bytes_out += nbytes

    def refused(self, reason: str) -> None:
        """The server turned something away (a connection, a message); `reason` is a short key."""
        self._refusals[reason] += 1

    def departed(self) -> None:
        """A client left before its answer could be written: normal, counted, not an error."""
        self._departed += 1

    def counters(self, protocol: WireProtocol) -> ProtocolCounters:
        """The live counters of `protocol`, for a connection to update in place: looked up
        once per connection, not once per message."""
        return self._counters[protocol]

    def open_connections(self, protocol: WireProtocol) -> int:
        """How many connections of `protocol` are open now."""
        return self._counters[protocol].open

    def snapshot(self) -> dict[str, object]:
        """All counters as JSON-ready values."""
        return {
            "uptime_s": round(self._clock() - self._started, 3),
            "protocols": {
                protocol.value: asdict(counters) for protocol, counters in self._counters.items()
            },
            "refused": dict(sorted(self._refusals.items())),
            "departed": self._departed,
        }
