"""The names of the three protocols, shared by metrics, rooms and the API."""

from enum import StrEnum


class WireProtocol(StrEnum):
    """Which protocol carried a connection or a message."""

    WS = "ws"
    SSE = "sse"
    HTTP = "http"
