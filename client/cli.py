"""The command line: one parser, a subcommand per protocol, and `bench` with its scenarios.

Usage errors print one line (``prog: error: ... (try --help)``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from client.urls import DEFAULT_URL, parse_base_url

__all__ = ["PROTOCOLS", "SCENARIOS", "build_parser", "prog_name"]

SCENARIOS = ("rtt", "push", "fanout", "overhead", "reconnect", "h2")
PROTOCOLS = ("ws", "sse", "http", "longpoll", "poll")

_RAW = argparse.RawDescriptionHelpFormatter


class CliParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, then exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message (try --help)`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (try --help)\n")


def prog_name() -> str:
    """``python -m client`` when run as a module, else the console script's name."""
    argv0 = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m client" if argv0 in ("__main__.py", "", "-c") else argv0


# --- value types -----------------------------------------------------------------------------


def _bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    convert.__name__ = "number"
    return convert


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    if text.strip() in ("0", "0.0"):
        return 0.0
    return _positive_float(text)


def _int_list(text: str) -> list[int]:
    convert = _bounded_int(1, 10_000)
    try:
        values = [convert(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} in {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected a comma-separated list such as 1,10,100")
    return values


def _protocol_list(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def convert(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"choose from {','.join(allowed)} (comma-separated), got {text!r}"
            )
        return list(dict.fromkeys(names))

    convert.__name__ = "protocol list"
    return convert


def _query_item(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def _room_name(text: str) -> str:
    if not 1 <= len(text) <= 64 or not all(
        c.isascii() and (c.isalnum() or c in "_-") for c in text
    ):
        raise argparse.ArgumentTypeError(
            f"room names are 1-64 characters of A-Z a-z 0-9 _ -, got {text!r}"
        )
    return text


# --- shared option groups ----------------------------------------------------------------------


def _common() -> CliParser:
    parent = CliParser(add_help=False)
    parent.add_argument(
        "--url",
        type=parse_base_url,
        default=parse_base_url(DEFAULT_URL),
        help=f"the Protocol Lab server (default: {DEFAULT_URL})",
    )
    parent.add_argument(
        "--json", action="store_true", help="print one JSON object per line instead of text"
    )
    parent.add_argument(
        "--cafile",
        type=Path,
        metavar="PEM",
        help="trust this CA certificate for an https:// server (e.g. the one `python -m "
        "server --tls` makes and names in its banner)",
    )
    return parent


def _reconnecting(base: float = 0.5, cap: float = 30.0) -> CliParser:
    parent = CliParser(add_help=False)
    group = parent.add_argument_group("reconnection (exponential backoff with full jitter)")
    group.add_argument(
        "--backoff-base",
        type=_non_negative_float,
        default=base,
        metavar="S",
        help=f"first backoff window in seconds; it doubles per failed attempt (default: {base})",
    )
    group.add_argument(
        "--backoff-cap",
        type=_non_negative_float,
        default=cap,
        metavar="S",
        help=f"largest backoff window in seconds (default: {cap})",
    )
    group.add_argument(
        "--max-retries",
        type=_bounded_int(0),
        default=None,
        metavar="N",
        help="give up after N failed reconnection attempts in a row (default: never)",
    )
    return parent


# --- commands ----------------------------------------------------------------------------------

_EXIT_STATUS = """
exit status: 0 done, 1 error (one line on stderr), 2 bad options, 130 interrupted (Ctrl-C;
a summary is printed first)."""

_WS_HELP = (
    """\
WebSocket (RFC 6455): one HTTP request is upgraded ("101 Switching Protocols") and the TCP
connection then carries frames both ways, each with a 2-14 byte header (client frames are
also masked, +4 bytes). This command connects to GET /ws/echo, sends each message as a frame
and prints the echo with its round-trip time.

Messages come from the arguments, from --file (one per line), are generated with --size, or
are read from stdin, one per line. If the connection drops, the client reconnects with
exponential backoff and resends the message whose echo was missing.
"""
    + _EXIT_STATUS
)

_SSE_HELP = (
    """\
Server-Sent Events (WHATWG HTML 9.2): one long HTTP response of text/event-stream; the
server pushes "id:/event:/data:" blocks, the client cannot send on it. This command behaves
like a browser's EventSource: on a dropped stream it waits the server's "retry:" time (adding
backoff while attempts fail), reconnects with the header Last-Event-ID so the server resumes
after the last event, and stops for good on 204 or on any non-200 / non-event-stream reply.

SOURCE is the server's tick stream by default (GET /sse/stream with --count, --interval,
--size); give a path such as /sse/room/lobby or any SSE URL to follow something else.
"""
    + _EXIT_STATUS
)

_HTTP_HELP = (
    """\
Plain HTTP/1.1 request/response: every message is a request line and headers up, a status
line and headers down, then the body. The connection is kept alive between requests, so only
the first of --count requests pays for the TCP connection. Default: GET /http/echo (which
describes the request); with --data, --file or --size the request is a POST whose body the
server echoes back.
"""
    + _EXIT_STATUS
)

_ROOM_HELP = (
    """\
A chat room over the protocol of your choice, to compare how each carries the same
conversation:
  --via ws    one WebSocket (/ws/room/NAME) both ways; resumes with ?after=<last id>
  --via sse   an event stream down (/sse/room/NAME, resumed with Last-Event-ID) and an HTTP
              POST up (/http/room/NAME?via=sse): SSE has no upstream
  --via http  long-polling GET /http/room/NAME?since=<id>&wait=25 in a loop, POST up
Lines typed on stdin are sent as messages. At the end of input the client waits up to
--linger seconds for its own messages to come back, then leaves.
"""
    + _EXIT_STATUS
)

_BENCH_HELP = """\
The honest comparison: the same workload over each protocol, measured the same way.
  rtt        N sequential round trips of SIZE bytes: WebSocket echo, HTTP POST echo on one
             kept-alive connection, HTTP POST -> SSE delivery through a room
  push       the server ticks at --rate; delivery delay (receive time - tick ts) over
             WebSocket, SSE, HTTP long-poll and HTTP polling every --poll-interval ms
  fanout     push to C concurrent clients per protocol (--clients 1,10,100): throughput and
             delay percentiles as C grows
  overhead   bytes on the wire per message in each direction, measured through a counting
             TCP relay on 127.0.0.1; connection set-up bytes reported separately
  reconnect  cut the relay under a live stream; time until messages flow again, and
             messages lost or duplicated, per protocol
Results: a table (progress on stderr), --json lines (a {"meta": ...} line first), --csv FILE,
--plot FILE.png (needs matplotlib: pip install 'protocol-lab[plot]'). See docs/client.md.
"""


def _add_ws(
    commands: argparse._SubParsersAction[CliParser],
    common: CliParser,
    reconnecting: CliParser,
) -> None:
    ws = commands.add_parser(
        "ws",
        parents=[common, reconnecting],
        help="WebSocket echo with round-trip times",
        description=_WS_HELP,
        formatter_class=_RAW,
    )
    ws.add_argument("messages", nargs="*", metavar="MESSAGE", help="messages to send")
    ws.add_argument("--file", type=Path, help="send each line of this file as a message")
    ws.add_argument("--binary", action="store_true", help="send binary frames, not text")
    ws.add_argument(
        "--count",
        "-n",
        type=_bounded_int(1),
        default=1,
        metavar="N",
        help="send each message N times (with --size: send N messages)",
    )
    ws.add_argument(
        "--size",
        type=_bounded_int(0),
        metavar="BYTES",
        help="send generated messages of this many bytes",
    )
    ws.add_argument(
        "--interval",
        type=_bounded_int(0),
        default=0,
        metavar="MS",
        help="pause between messages, in milliseconds (default: 0)",
    )


def _add_sse(
    commands: argparse._SubParsersAction[CliParser],
    common: CliParser,
    reconnecting: CliParser,
) -> None:
    sse = commands.add_parser(
        "sse",
        parents=[common, reconnecting],
        help="follow an event stream like EventSource",
        description=_SSE_HELP,
        formatter_class=_RAW,
    )
    sse.add_argument(
        "source",
        nargs="?",
        metavar="SOURCE",
        help="a path on the server or an SSE URL (default: /sse/stream)",
    )
    sse.add_argument(
        "--count",
        "-n",
        type=_bounded_int(0, 1_000_000),
        default=None,
        metavar="N",
        help="ticks in the stream, then the server ends it (0: endless)",
    )
    sse.add_argument(
        "--interval",
        type=_bounded_int(0, 60_000),
        default=None,
        metavar="MS",
        help="milliseconds between ticks (server default: 1000)",
    )
    sse.add_argument(
        "--size",
        type=_bounded_int(0, 1024 * 1024),
        default=None,
        metavar="BYTES",
        help="padding characters in each tick",
    )
    sse.add_argument(
        "--last-event-id",
        metavar="ID",
        help="resume after this event id, as a reconnecting browser would",
    )
    sse.add_argument(
        "--max-events", type=_bounded_int(1), default=None, metavar="N", help="exit after N events"
    )


def _add_http(commands: argparse._SubParsersAction[CliParser], common: CliParser) -> None:
    http = commands.add_parser(
        "http",
        parents=[common],
        help="timed HTTP requests to /http/echo",
        description=_HTTP_HELP,
        formatter_class=_RAW,
    )
    http.add_argument(
        "path",
        nargs="?",
        default="/http/echo",
        metavar="PATH",
        help="path on the server or a full URL (default: /http/echo)",
    )
    http.add_argument(
        "-X",
        "--method",
        type=str.upper,
        choices=("GET", "POST"),
        help="GET or POST (default: POST when there is a body, else GET)",
    )
    body = http.add_mutually_exclusive_group()
    body.add_argument("--data", "-d", metavar="TEXT", help="request body")
    body.add_argument("--file", type=Path, help="request body from a file")
    body.add_argument(
        "--size",
        type=_bounded_int(0),
        metavar="BYTES",
        help="a generated request body of this many bytes",
    )
    http.add_argument(
        "--content-type",
        default="text/plain; charset=utf-8",
        help="Content-Type of the body (default: text/plain; charset=utf-8)",
    )
    http.add_argument(
        "--query",
        "-q",
        type=_query_item,
        action="append",
        metavar="NAME=VALUE",
        help="add a query parameter (repeatable)",
    )
    http.add_argument(
        "--count",
        "-n",
        type=_bounded_int(1),
        default=1,
        metavar="N",
        help="send the request N times on the kept-alive connection",
    )
    http.add_argument("--include", "-i", action="store_true", help="print response headers")


def _add_room(
    commands: argparse._SubParsersAction[CliParser],
    common: CliParser,
    reconnecting: CliParser,
) -> None:
    from client.commands.room import default_user

    room = commands.add_parser(
        "room",
        parents=[common, reconnecting],
        help="chat in a room over ws, sse or http",
        description=_ROOM_HELP,
        formatter_class=_RAW,
    )
    room.add_argument("name", type=_room_name, metavar="NAME", help="the room to join")
    room.add_argument(
        "--via",
        choices=("ws", "sse", "http"),
        default="ws",
        help="protocol to take part with (default: ws)",
    )
    room.add_argument(
        "--user", default=default_user(), help="your name in the room (default: your login name)"
    )
    room.add_argument(
        "--since",
        type=_bounded_int(0),
        default=None,
        metavar="ID",
        help="first show history after message ID (0: all the history kept)",
    )
    room.add_argument(
        "--listen", action="store_true", help="only print messages; do not read stdin"
    )
    room.add_argument(
        "--max-messages",
        type=_bounded_int(1),
        default=None,
        metavar="N",
        help="leave after N messages arrived",
    )
    room.add_argument(
        "--linger",
        type=_non_negative_float,
        default=5.0,
        metavar="S",
        help="at end of input, wait up to S seconds for your messages (default 5)",
    )


# --- bench -------------------------------------------------------------------------------------

_SCENARIO_DEFAULTS: dict[str, dict[str, object]] = {
    "rtt": {"count": 100, "size": 32, "protocols": ["ws", "http", "sse"], "clients": [1]},
    "push": {
        "count": 50,
        "size": 32,
        "protocols": ["ws", "sse", "longpoll", "poll"],
        "clients": [1],
    },
    "fanout": {
        "count": 20,
        "size": 32,
        "protocols": ["ws", "sse", "longpoll", "poll"],
        "clients": [1, 10, 100],
    },
    "overhead": {"count": 100, "size": 32, "protocols": ["ws", "http", "sse", "longpoll"]},
    "reconnect": {"count": 40, "size": 32, "protocols": ["ws", "sse", "longpoll"]},
    "h2": {"count": 100, "size": 32, "protocols": ["http/1.1", "h2"]},
}
_SCENARIO_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "rtt": ("ws", "http", "sse"),
    "push": ("ws", "sse", "longpoll", "poll"),
    "fanout": ("ws", "sse", "longpoll", "poll"),
    "overhead": ("ws", "http", "sse", "longpoll"),
    "reconnect": ("ws", "sse", "longpoll"),
    "h2": ("http/1.1", "h2"),
}
_SCENARIO_SUMMARY = {
    "rtt": "sequential round trips: ws echo, http POST echo, http POST -> sse",
    "push": "delivery delay of server ticks: ws, sse, long-poll, polling",
    "fanout": "push to C concurrent clients per protocol",
    "overhead": "bytes on the wire per message, through a counting relay",
    "reconnect": "cut the connection: time to recover, messages lost/duplicated",
    "h2": "TLS bytes per request over HTTP/1.1 and HTTP/2 (an https:// proxy, make proxy)",
}


def _bench_common(name: str) -> CliParser:
    defaults = _SCENARIO_DEFAULTS[name]
    parent = CliParser(add_help=False)
    parent.add_argument(
        "-n",
        "--count",
        type=_bounded_int(1, 1_000_000),
        default=defaults["count"],
        metavar="N",
        help=f"messages measured per protocol (default: {defaults['count']})",
    )
    parent.add_argument(
        "--size",
        type=_bounded_int(0, 1024 * 1024),
        default=defaults["size"],
        metavar="BYTES",
        help=f"payload bytes (default: {defaults['size']})",
    )
    protocols = _SCENARIO_PROTOCOLS[name]
    parent.add_argument(
        "--protocols",
        type=_protocol_list(protocols),
        default=defaults["protocols"],
        metavar="LIST",
        help=f"which to run, from {','.join(protocols)} (default: all)",
    )
    from client.bench.netem import add_netem_option

    add_netem_option(parent)
    parent.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
    parent.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="also draw latency CDFs and bars (needs matplotlib)",
    )
    parent.add_argument(
        "--timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="longest wait for any one message before giving up (default: 10)",
    )
    if "clients" in defaults:
        text = ",".join(str(c) for c in defaults["clients"])  # type: ignore[attr-defined]
        parent.add_argument(
            "--clients",
            type=_int_list,
            default=defaults["clients"],
            metavar="C[,C...]",
            help=f"concurrent clients per protocol, one run per value (default: {text})",
        )
    return parent


def _add_push_options(parser: argparse.ArgumentParser, rate: float) -> None:
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=rate,
        metavar="R",
        help=f"server ticks per second (default: {rate:g})",
    )
    parser.add_argument(
        "--poll-interval",
        type=_bounded_int(1, 60_000),
        default=45,
        metavar="MS",
        help="how often the polling client asks, in ms (default: 45, "
        "deliberately not a divisor of the tick interval)",
    )


def _add_bench(commands: argparse._SubParsersAction[CliParser], common: CliParser) -> None:
    bench = commands.add_parser(
        "bench",
        help="compare the protocols: rtt, push, fanout, overhead, reconnect, h2",
        description=_BENCH_HELP,
        formatter_class=_RAW,
    )
    scenarios = bench.add_subparsers(
        dest="scenario", required=True, metavar="SCENARIO", parser_class=CliParser
    )
    parents = {name: [common, _bench_common(name)] for name in SCENARIOS}

    rtt = scenarios.add_parser(
        "rtt",
        parents=parents["rtt"],
        help=_SCENARIO_SUMMARY["rtt"],
        description=_BENCH_HELP,
        formatter_class=_RAW,
    )
    rtt.add_argument(
        "--room",
        type=_room_name,
        default=None,
        help="room used for http POST -> sse (default: a fresh bench-... room)",
    )

    push = scenarios.add_parser(
        "push",
        parents=parents["push"],
        help=_SCENARIO_SUMMARY["push"],
        description=_BENCH_HELP,
        formatter_class=_RAW,
    )
    _add_push_options(push, rate=20)

    fanout = scenarios.add_parser(
        "fanout",
        parents=parents["fanout"],
        help=_SCENARIO_SUMMARY["fanout"],
        description=_BENCH_HELP,
        formatter_class=_RAW,
    )
    _add_push_options(fanout, rate=10)

    scenarios.add_parser(
        "overhead",
        parents=parents["overhead"],
        help=_SCENARIO_SUMMARY["overhead"],
        description=_BENCH_HELP,
        formatter_class=_RAW,
    )

    scenarios.add_parser(
        "h2",
        parents=parents["h2"],
        help=_SCENARIO_SUMMARY["h2"],
        description=_BENCH_HELP,
        formatter_class=_RAW,
    )

    reconnect = scenarios.add_parser(
        "reconnect",
        parents=[*parents["reconnect"], _reconnecting(base=0.1, cap=2.0)],
        help=_SCENARIO_SUMMARY["reconnect"],
        description=_BENCH_HELP,
        formatter_class=_RAW,
    )
    reconnect.add_argument(
        "--rate",
        type=_positive_float,
        default=20,
        metavar="R",
        help="server ticks per second (default: 20)",
    )
    reconnect.add_argument(
        "--cuts",
        type=_bounded_int(1, 100),
        default=2,
        metavar="K",
        help="how many times to cut the connections (default: 2)",
    )
    reconnect.add_argument(
        "--outage",
        type=_bounded_int(0, 60_000),
        default=300,
        metavar="MS",
        help="how long the relay refuses connections after a cut (default: 300)",
    )
    from client.bench import survive, sweep

    sweep.add_parser(scenarios, common)
    survive.add_parser(scenarios, common)
    reconnect.add_argument(
        "--no-resume",
        action="store_true",
        help="reconnect like a naive client: no Last-Event-ID / after=",
    )


def build_parser(prog: str | None = None) -> CliParser:
    """The whole command line of the client."""
    parser = CliParser(
        prog=prog or prog_name(),
        description="Protocol Lab client: drive the server's WebSocket, Server-Sent Events "
        "and HTTP endpoints, and compare them with `bench`.",
        epilog="Run '<command> --help' for what each protocol does on the wire.",
    )
    from client import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CliParser
    )
    common, reconnecting = _common(), _reconnecting()
    _add_ws(commands, common, reconnecting)
    _add_sse(commands, common, reconnecting)
    _add_http(commands, common)
    _add_room(commands, common, reconnecting)
    _add_bench(commands, common)
    from client.commands import doctor, netem

    netem.add_parser(commands, common)
    doctor.add_parser(commands, common)
    return parser
