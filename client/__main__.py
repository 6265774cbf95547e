"""`python -m client`: parse the command line, run one command, map failures to exit codes.

Exit status: 0 done, 1 a domain error (unreachable server, refused request ...) printed as one
line, 2 bad options, 130 interrupted by Ctrl-C (after the command printed its summary).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp

from client.cli import build_parser, prog_name
from client.errors import ClientError, describe
from client.output import Output

__all__ = ["amain", "main"]

Command = Callable[[argparse.Namespace, aiohttp.ClientSession, Output], Awaitable[int]]
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client as a program; returns the exit status."""
    try:
        return asyncio.run(amain(argv))
    except KeyboardInterrupt:
        # asyncio.run cancelled the command on Ctrl-C (its `finally` printed the summary)
        # and re-raised the interrupt: 128 + SIGINT, as shells report it.
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`... | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


async def amain(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the command in the running event loop; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error, already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if (problem := usage_problem(args)) is not None:
        sys.stderr.write(f"{parser.prog} {args.command}: error: {problem} (try --help)\n")
        return EXIT_USAGE
    out = Output(json_mode=args.json)
    try:
        async with _session(args) as session:
            return await _command(args)(args, session, out)
    except BrokenPipeError:
        raise  # our reader left: handled by main(), not an error to report
    except (ClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        sys.stderr.write(f"{prog_name()}: error: {describe(exc)}\n")
        sys.stderr.flush()
        return EXIT_ERROR


def usage_problem(args: argparse.Namespace) -> str | None:
    """Option combinations argparse cannot express; None when the options make sense."""
    if args.command == "ws":
        from client.commands.ws import check_args

        return check_args(args)
    if args.command == "bench" and args.plot is not None:
        from client.report import plot_problem

        return plot_problem(args.plot)
    return None


def _command(args: argparse.Namespace) -> Command:
    # Imported on demand, so `--help` and bad options stay fast.
    name = "client.bench.runner" if args.command == "bench" else f"client.commands.{args.command}"
    run: Command = importlib.import_module(name).run
    return run


def _session(args: argparse.Namespace) -> aiohttp.ClientSession:
    """The run's one `ClientSession`.

    No overall timeout (streams last as long as they last), but a bounded connect; no cap on
    connections per host, so `bench fanout` gets one connection per client.
    """
    trace_configs = []
    if args.command == "http":
        from client.timing import timing_trace

        trace_configs.append(timing_trace())
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        connector=aiohttp.TCPConnector(limit=0, ssl=_tls_context(args.cafile)),
        trace_configs=trace_configs,
    )


def _tls_context(cafile: Path | None) -> ssl.SSLContext | bool:
    """Certificate checks as usual (True), trusting `cafile` as well when given."""
    if cafile is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(cafile))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ClientError(f"cannot use --cafile {cafile}: {reason}") from None


if __name__ == "__main__":
    sys.exit(main())
