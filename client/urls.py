"""Server URLs: the `--url` option and the endpoints of the wire contract under it."""

from __future__ import annotations

import argparse
import re

from yarl import URL

__all__ = ["DEFAULT_URL", "endpoint", "parse_base_url", "resolve"]

DEFAULT_URL = "http://127.0.0.1:8080"


# An endpoint of the server at the end of a --url (`http://host:8080/ws/echo`): people paste
# the URL they saw, and every command appends its own endpoint to the base.
_ENDPOINT_SUFFIX = re.compile(
    r"/(?:(?:ws|sse|http)/(?:echo|stream|tick|room/[^/]+)|api/(?:stats|config|rooms)|healthz)$"
)


def parse_base_url(text: str) -> URL:
    """The `--url` value as a base URL; raises `argparse.ArgumentTypeError` (exit 2) if bad.

    A path prefix stays (a server behind a proxy at `/lab`); an endpoint of the server at
    the end goes, so `--url http://127.0.0.1:8080/ws/echo` means the server, not
    `/ws/echo/ws/echo`.
    """
    url = URL(text.strip())
    if url.scheme in ("ws", "wss"):
        url = url.with_scheme("http" if url.scheme == "ws" else "https")
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL such as {DEFAULT_URL}, got {text!r}"
        )
    path = _ENDPOINT_SUFFIX.sub("", url.path.rstrip("/"))
    return url.with_path(path).with_query(None).with_fragment(None)


def endpoint(base: URL, path: str, **query: str | int | float | None) -> URL:
    """`base` + `path` (which starts with "/"), with the query items that are not None."""
    prefix = base.path.rstrip("/")
    url = base.with_path(prefix + path)
    items = {name: str(value) for name, value in query.items() if value is not None}
    return url.with_query(items) if items else url


def resolve(base: URL, target: str) -> URL:
    """An absolute URL as given, or a path (with optional query) on the server at `base`."""
    if "://" in target:
        return URL(target)
    if not target.startswith("/"):
        target = "/" + target
    return base.join(URL(target))


def ws_display(url: URL) -> str:
    """How a browser would write the WebSocket URL (ws:// or wss://), for messages."""
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    return str(url.with_scheme(scheme))
