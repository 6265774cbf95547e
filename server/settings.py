"""Server settings: one frozen dataclass, filled from defaults, environment and command line.

Every field is an option. The command-line parser and the environment variables are both
generated from the field list below, so an option cannot exist in one place and be missing in
another: `--ws-max-size` on the command line is `PROTOCOL_LAB_WS_MAX_SIZE` in the environment.
Precedence: command line > environment > default.

Invalid values raise `SettingsError` with a one-line message naming the option; `__main__`
prints it and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib.util
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from server.core.forwarded import TrustedProxies
from server.core.origins import OriginPolicy
from server.core.urls import redact_url

ENV_PREFIX = "PROTOCOL_LAB_"
MIB = 1024 * 1024
LOG_LEVELS = ("debug", "info", "warning", "error")
LOOPS = ("asyncio", "uvloop")
# uvloop is a dependency on Linux; elsewhere (or if it failed to install) asyncio's own loop.
DEFAULT_LOOP = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
DEFAULT_STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
DEFAULT_DOCS_DIR = DEFAULT_STATIC_DIR.parent / "docs"
# Generated TLS files live in the user's cache, never in the repository (where they could be
# committed, and where `git clean` would throw away a CA the user has learned to trust).
DEFAULT_CERT_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "protocol-lab"
)


class SettingsError(ValueError):
    """A setting has a value the server cannot run with; the message names the option."""


def _option(default: Any, help: str, *, minimum: float | None = None, **extra: Any) -> Any:
    """A dataclass field that also describes its command-line option."""
    return field(default=default, metadata={"help": help, "minimum": minimum, **extra})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server can be told. Construct it directly in tests."""

    host: str = _option("127.0.0.1", "interface to listen on (0.0.0.0 for all)")
    port: int = _option(8080, "TCP port; 0 picks a free port and prints it", minimum=0)
    log_level: str = _option("info", "logging level", choices=LOG_LEVELS)
    loop: str = _option(
        DEFAULT_LOOP,
        "event loop: uvloop (the default where it is installed) or Python's asyncio",
        choices=LOOPS,
    )
    access_log: bool = _option(
        False,
        "log one line per HTTP request (costs about a third of a small request's CPU time)",
    )
    static_dir: Path = _option(DEFAULT_STATIC_DIR, "folder served at / and /static/")
    docs_dir: Path = _option(
        DEFAULT_DOCS_DIR, "folder served read-only at /docs/, so the page can link the guide"
    )
    tls: bool = _option(
        False,
        "serve https:// and wss:// (TLS). Without --cert/--key, a certificate for localhost, "
        "127.0.0.1 and ::1 is made at start-up in --cert-dir and the banner says how to trust it",
    )
    cert: Path | None = _option(None, "PEM certificate (chain) to serve with --tls")
    key: Path | None = _option(None, "PEM private key of --cert")
    cert_dir: Path = _option(
        DEFAULT_CERT_DIR, "folder for the generated localhost certificate (outside the repo)"
    )
    allowed_origins: str = _option(
        "",
        "more web origins (scheme://host[:port], comma-separated) whose pages may open "
        "WebSockets and send POSTs; '*' allows any. The server's own address and localhost "
        "on its port are always allowed; requests without Origin (curl, scripts) too",
    )
    trusted_proxies: str = _option(
        "",
        "addresses or networks (comma-separated, e.g. 127.0.0.1,10.0.0.0/8) of reverse "
        "proxies in front of the server: only requests from them may say, in "
        "X-Forwarded-For/-Proto/-Host, the client's address, https and the Host it used",
    )
    max_connections: int = _option(
        1000,
        "most long-lived connections (WebSocket + SSE) at once; 0 = unlimited. "
        "Beyond it SSE gets 503 and WebSocket is closed with 1013 (try again later)",
        minimum=0,
    )
    max_connections_per_ip: int = _option(
        256,
        "most long-lived connections from one client address; 0 = unlimited. "
        "Beyond it SSE gets 503 and WebSocket is closed with 1013",
        minimum=0,
    )
    header_timeout: float = _option(
        10.0,
        "seconds a client has to send a whole request head, from its first byte or from "
        "connecting (slowloris guard; also bounds the TLS handshake)",
        minimum=0.01,
    )
    keepalive_timeout: float = _option(
        75.0, "seconds an idle keep-alive HTTP connection is kept open", minimum=0.01
    )
    ws_max_size: int = _option(
        4 * MIB,
        "largest WebSocket message in bytes (bigger ones: close 1009); 0 = unlimited",
        minimum=0,
    )
    ws_heartbeat: float = _option(
        20.0,
        "seconds between the server's WebSocket pings; a peer that misses the pong is "
        "closed. 0 = no heartbeat",
        minimum=0,
    )
    ws_compress: bool = _option(True, "offer permessage-deflate (RFC 7692) on WebSockets")
    ws_idle_timeout: float = _option(
        600.0,
        "seconds a /ws/echo or /ws/room client may send no message before it is closed with "
        "1000 'idle timeout' (pings and pongs do not count); 0 = never",
        minimum=0,
    )
    http_max_body: int = _option(
        10 * MIB, "largest HTTP request body in bytes (bigger ones: 413)", minimum=1
    )
    body_timeout: float = _option(
        30.0,
        "seconds a client has to send a whole request body (slow uploads get 408); "
        "0 = wait forever",
        minimum=0,
    )
    http_send_timeout: float = _option(
        10.0,
        "seconds an HTTP response may wait on a client that does not read before the "
        "connection is cut; 0 = wait forever",
        minimum=0,
    )
    sse_ping_interval: float = _option(
        15.0, "seconds between keep-alive comments on idle SSE streams", minimum=0.01
    )
    sse_send_timeout: float = _option(
        10.0,
        "seconds an SSE write may wait on a client that does not read before the stream "
        "is dropped; 0 = wait forever",
        minimum=0,
    )
    sse_retry: int = _option(
        2000, "reconnection delay in ms that SSE streams advise with `retry:`", minimum=0
    )
    sse_max_lifetime: float = _option(
        3600.0,
        "seconds after which an SSE stream is ended; EventSource reconnects after `retry:` "
        "and resumes from Last-Event-ID, so nothing is lost. 0 = no limit",
        minimum=0,
    )
    ws_send_timeout: float = _option(
        10.0,
        "seconds a message may wait to be written to a WebSocket that does not read "
        "before the connection is aborted; 0 = wait forever",
        minimum=0,
    )
    room_history: int = _option(1000, "messages each room keeps for resume and polling", minimum=1)
    room_queue: int = _option(
        256,
        "messages a room subscriber may fall behind before it is dropped as a slow consumer",
        minimum=1,
    )
    max_rooms: int = _option(1000, "most rooms that may exist at once", minimum=1)
    room_rate: float = _option(
        20.0,
        "room messages a connection (HTTP: a client address) may send per second; 0 = no limit",
        minimum=0,
    )
    room_burst: int = _option(
        40, "room messages a connection may send at once before the rate applies", minimum=1
    )
    max_user: int = _option(32, "longest user name in a room message, in characters", minimum=1)
    max_text: int = _option(4096, "longest room message text, in characters", minimum=1)
    broker: str = _option(
        "",
        "room broker shared by every server process that names it: redis://host:port/db "
        "(rediss:// for TLS). Empty: rooms live in this process's memory",
    )
    workers: int = _option(
        1,
        "server processes sharing --port (SO_REUSEPORT). With more than one, rooms need "
        "--broker, or each process has rooms of its own (split brain)",
        minimum=1,
    )
    shutdown_timeout: float = _option(
        2.0, "seconds open requests get to finish when the server stops", minimum=0
    )

    def __post_init__(self) -> None:
        for spec in fields(self):
            _check_minimum(spec, getattr(self, spec.name))
        if self.port > 65535:
            raise SettingsError(f"--port must be between 0 and 65535, got {self.port}")
        if self.loop not in LOOPS:
            raise SettingsError(f"--loop must be one of {', '.join(LOOPS)}, got {self.loop!r}")
        if self.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise SettingsError("--loop uvloop: uvloop is not installed; use --loop asyncio")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(
                f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        for option, folder in (("--static-dir", self.static_dir), ("--docs-dir", self.docs_dir)):
            if not folder.is_dir():
                raise SettingsError(f"{option} {folder} is not a folder")
        self._check_tls()
        if self.broker and not self.broker.startswith(BROKER_SCHEMES):
            raise SettingsError(
                f"--broker must be a redis:// or rediss:// URL, got {redact_url(self.broker)!r}"
            )
        try:
            OriginPolicy.from_setting(self.allowed_origins)
        except ValueError as exc:
            raise SettingsError(f"--allowed-origins: {exc}") from None
        try:
            TrustedProxies.from_setting(self.trusted_proxies)
        except ValueError as exc:
            raise SettingsError(f"--trusted-proxies: {exc}") from None

    def _check_tls(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise SettingsError("--cert and --key go together: give both or neither")
        if self.cert is not None and not self.tls:
            raise SettingsError("--cert and --key are used only with --tls; add --tls")
        for flag, path in (("--cert", self.cert), ("--key", self.key)):
            if path is not None and not path.is_file():
                raise SettingsError(f"{flag} {path} is not a file")

    @property
    def public(self) -> dict[str, object]:
        """The settings as JSON-ready values, for `/api/config` (file paths left out)."""
        public = {
            spec.name: getattr(self, spec.name)
            for spec in fields(self)
            if spec.name not in _PRIVATE
        }
        public["broker"] = redact_url(self.broker)
        return public


BROKER_SCHEMES = ("redis://", "rediss://")


# Paths on the server's disk are nobody's business; `tls` says whether TLS is on.
_PRIVATE = frozenset({"static_dir", "docs_dir", "cert", "key", "cert_dir"})


def _check_minimum(spec: dataclasses.Field[Any], value: object) -> None:
    minimum = spec.metadata.get("minimum")
    if minimum is not None and isinstance(value, int | float) and value < minimum:
        raise SettingsError(f"{_flag(spec.name)} must be at least {minimum}, got {value}")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    """The environment variable that sets the field `name`."""
    return ENV_PREFIX + name.upper()


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _converter(spec: dataclasses.Field[Any]) -> Callable[[str], Any]:
    converters: dict[str, Callable[[str], Any]] = {
        "int": int,
        "float": float,
        "bool": _parse_bool,
        "Path": Path,
        "Path | None": Path,
        "str": str,
    }
    return converters[str(spec.type)]


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        raw = environ.get(env_name(spec.name))
        if raw is None:
            continue
        try:
            values[spec.name] = _converter(spec)(raw)
        except ValueError:
            raise SettingsError(
                f"{env_name(spec.name)}={raw!r} is not a valid {spec.type}"
            ) from None
    return values


class _ShortErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors fit in two lines instead of the whole usage: a
    mistyped option gets the nearest real one and a pointer to --help."""

    def error(self, message: str) -> NoReturn:
        """Print the error, a suggestion for an unknown option, and exit with status 2."""
        unknown = re.findall(r"(--?[\w-]+)", message) if "unrecognized" in message else []
        known = [flag for action in self._actions for flag in action.option_strings]
        for word in unknown:
            nearest = difflib.get_close_matches(word.split("=")[0], known, n=1)
            if nearest:
                message += f" (did you mean {nearest[0]}?)"
                break
        hint = f"See `{self.prog} --help` for every option."
        self.exit(2, f"{self.prog}: error: {message}\n{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    """The `python -m server` command line, one option per `Settings` field."""
    parser = _ShortErrorParser(
        prog="python -m server",
        description=(
            "Protocol Lab: a WebSocket echo, a Server-Sent Events stream and an HTTP "
            "request/response endpoint side by side. Every option can also be set with an "
            f"environment variable named {ENV_PREFIX}<OPTION>, e.g. {env_name('ws_max_size')}."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for spec in fields(Settings):
        help_text = f"{spec.metadata['help']} [env {env_name(spec.name)}]"
        if spec.type == "bool":
            parser.add_argument(
                _flag(spec.name),
                dest=spec.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {spec.default})",
            )
            continue
        parser.add_argument(
            _flag(spec.name),
            dest=spec.name,
            type=_converter(spec),
            metavar=spec.name.upper(),
            choices=spec.metadata.get("choices"),
            default=argparse.SUPPRESS,
            help=f"{help_text} (default: {spec.default})",
        )
    return parser


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the command line over the environment over the defaults.

    Raises `SettingsError` for invalid values; argparse itself exits with status 2 for
    options it cannot parse.
    """
    values = _from_env(os.environ if environ is None else environ)
    values.update(vars(build_parser().parse_args(argv)))
    return Settings(**values)
