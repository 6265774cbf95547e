"""Protocol Lab server: WebSocket, Server-Sent Events and plain HTTP side by side."""

from server.app import create_app
from server.settings import Settings

__all__ = ["Settings", "create_app"]
