"""The record that goes with every bench result: machine, versions, server and settings.

It is the first line of `--json` output (``{"meta": {...}}``), the first line of the CSV
(``# meta: {...}``) and the subtitle of the plot. Fetching the server's `/api/config` is also
the run's reachability check.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from client import __version__
from client.errors import ClientError, describe
from client.urls import endpoint

__all__ = ["collect_meta", "machine", "settings_of"]


async def collect_meta(
    session: aiohttp.ClientSession, base: URL, args: argparse.Namespace
) -> dict[str, Any]:
    """Everything needed to interpret (or repeat) the run; raises `ClientError` if the
    server cannot be reached."""
    return {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "client": f"protocol-lab-client {__version__}",
        "machine": machine(),
        "versions": versions(),
        "server": {"url": str(base), "config": await server_config(session, base)},
        "settings": settings_of(args),
    }


def machine() -> dict[str, Any]:
    """The host the client runs on (the server may be elsewhere: see `server.url`)."""
    load = None
    with contextlib.suppress(OSError, AttributeError):
        load = [round(value, 2) for value in os.getloadavg()]
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
        "loadavg": load,
    }


def versions() -> dict[str, str | None]:
    """Python and the libraries that shape the numbers."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("aiohttp", "yarl", "rich", "matplotlib"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


async def server_config(session: aiohttp.ClientSession, base: URL) -> dict[str, Any]:
    """`GET /api/config`: every setting the server runs with."""
    url = endpoint(base, "/api/config")
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            if response.status != 200:
                raise ClientError(f"{url} answered HTTP {response.status}: is it Protocol Lab?")
            config = await response.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        raise ClientError(f"cannot reach the server at {base}: {describe(exc)}") from None
    return config if isinstance(config, dict) else {}


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The bench options as JSON values."""
    settings: dict[str, Any] = {}
    for name, value in sorted(vars(args).items()):
        if name in ("command", "json", "url"):
            continue
        if isinstance(value, Path | URL):
            value = str(value)
        try:
            json.dumps(value)
        except TypeError:
            value = repr(value)
        settings[name] = value
    return settings
