"""`python -m server`: parse the options, serve, and stop cleanly on Ctrl-C."""

import asyncio
import errno
import logging
import sys
from collections.abc import Sequence

from server.runner import Running, loop_factory, serve
from server.settings import SettingsError, build_parser, load_settings
from server.workers import run_workers


def banner(running: Running) -> str:
    """What the server prints once it listens: its URL first (scripts read that line), then,
    for a certificate the server made itself, how to trust it."""
    lines = [f"Protocol Lab is serving on {running.url}  (Ctrl-C to stop)"]
    if running.trust is not None:
        ca = running.trust
        lines += [
            f"TLS certificate for localhost, 127.0.0.1 and ::1, signed by the local CA {ca}",
            "Trust that CA (and only it) to connect without warnings:",
            f"  python -m client ws --cafile {ca} ...",
            f"  curl --cacert {ca} {running.url}/healthz",
            "  browsers: import it as a certificate authority, or accept the warning once",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the process exit status (2 for invalid options)."""
    try:
        settings = load_settings(argv)
    except SettingsError as exc:
        build_parser().error(str(exc))  # prints usage and one line, exits with 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(running: Running) -> None:
        print(banner(running), flush=True)

    try:
        if settings.workers > 1:
            return run_workers(settings, lambda line: print(line, flush=True))
        with asyncio.Runner(loop_factory=loop_factory(settings.loop)) as runner:
            runner.run(serve(settings, announce))
    except OSError as exc:  # the port is taken, a certificate is unreadable: one line
        print(f"python -m server: error: {exc}", file=sys.stderr)
        if exc.errno == errno.EADDRINUSE:
            print(busy_port_hint(settings.port), file=sys.stderr)
        return 1
    return 0


def busy_port_hint(port: int) -> str:
    """What to do when another process (often an earlier server) holds the port."""
    return (
        f"Port {port} is taken, perhaps by a server you started earlier: stop it (Ctrl-C in "
        f'its terminal), or choose another port, e.g. --port {port + 1} (make run ARGS="--port '
        f'{port + 1}"), or --port 0 for any free one.'
    )


if __name__ == "__main__":
    sys.exit(main())
