"""The client's own exceptions, and one place that turns any failure into one line of text.

Exception tree (what the caller can do about each)::

    ClientError               report it as one line, exit status 1
    ├── ConnectionLost        the connection broke: reconnecting may help
    ├── StreamEnded           the server ended a stream on purpose (SSE 204, WS close 1000)
    └── ProtocolFailure       the server said no, or spoke something else: do not retry
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp

__all__ = ["ClientError", "ConnectionLost", "ProtocolFailure", "StreamEnded", "describe"]


class ClientError(Exception):
    """A failure to show the user as one line (no traceback); the command exits with 1."""


class ConnectionLost(ClientError):
    """The connection broke or could not be made; a reconnection attempt may succeed."""


class StreamEnded(ClientError):
    """The server ended the stream deliberately; reconnecting would be wrong."""


class ProtocolFailure(ClientError):
    """The server refused the request or answered with something else; retrying won't help."""


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, for any exception a command may meet."""
    if isinstance(exc, ClientError):
        return str(exc)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return (
            f"cannot connect to {exc.host}:{exc.port}: its TLS certificate is not trusted "
            f"({exc.certificate_error}); give its CA with --cafile"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {_connect_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"WebSocket upgrade refused: HTTP {exc.status} {exc.message}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message} from {exc.request_info.real_url}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection broke in the middle of a response"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out waiting for the server"
    if isinstance(exc, aiohttp.ClientError | OSError):
        text = str(exc) or type(exc).__name__
        return text.splitlines()[0]
    return f"{type(exc).__name__}: {exc}"


def _connect_reason(error: OSError) -> str:
    """Why a connection could not be made, in words that say what to do."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(error, ssl.SSLError) and error.reason in _NOT_TLS_REASONS:
        # The server answered the TLS hello with plain HTTP: it was started without --tls.
        return (
            "the server does not speak TLS on this port (started without --tls?); "
            "use http:// (or ws://) instead of https:// (or wss://)"
        )
    return error.strerror or str(error)


# What OpenSSL says when the bytes after our ClientHello are not TLS (an HTTP response).
_NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"}


def is_network_error(exc: BaseException) -> bool:
    """True for failures of the connection itself, after which a reconnect may work."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return False  # the server answered: it is reachable
    return isinstance(exc, aiohttp.ClientError | OSError | TimeoutError | ConnectionLost)
