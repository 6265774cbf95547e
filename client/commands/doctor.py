"""`doctor`: probe the path to a server (WebSocket upgrade, SSE buffering, long-poll, idle
timeout) and recommend a transport. Exit status 0 when some transport works, else 1."""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp

from client.doctor import diagnose, recommend
from client.errors import ClientError
from client.output import Output
from client.urls import parse_base_url

__all__ = ["add_parser", "run"]

_HELP = """\
Probe the path between this machine and a Protocol Lab server, as a middlebox would treat it:
  http          the server answers (GET /api/config: its keep-alive settings)
  websocket     the upgrade (101) and an echo on /ws/echo
  sse           two events 1 s apart: delivered as sent, or bunched by a buffering proxy
  long-poll     GET /http/tick?after=...&wait=5 is held, then answered
  idle timeout  quiet keep-alive connections of growing length, at once, then bisection
                (within --idle-budget seconds; 0 skips it)
Then: which protocol survives this path with the server's heartbeat and ping settings, and
which to use. Try it through `python -m client netem` with --strip-upgrade, --buffer-until-close
or --idle-timeout.
"""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `doctor` on the client's subcommands."""
    parser = commands.add_parser(
        "doctor",
        parents=[common],
        help="probe the path: upgrade, SSE buffering, long-poll, idle timeout; recommend",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        nargs="?",
        type=parse_base_url,
        default=None,
        metavar="URL",
        help="the server (or a proxy in front of it); default: --url",
    )
    parser.add_argument(
        "--idle-budget",
        type=float,
        default=20.0,
        metavar="S",
        help="longest quiet time to probe for an idle timeout, in seconds (default: 20)",
    )


async def run(args: argparse.Namespace, session: aiohttp.ClientSession, out: Output) -> int:
    """Print each step with its time, who survives, and the recommendation."""
    base = args.target if args.target is not None else args.url
    if not 0 <= args.idle_budget <= 600:
        raise ClientError("--idle-budget must be 0 to 600 seconds")
    if not out.json_mode:
        out.state("probing", f"probing {base} (idle probe up to {args.idle_budget:g} s)")
    findings = await diagnose(session, base, idle_budget_s=args.idle_budget)
    for step in findings.steps:
        mark = "ok  " if step.ok else "FAIL"
        text = f"{mark} {step.name:<12} {step.ms:8.0f} ms  {step.detail}"
        out.record(
            "step", text, step=step.name, ok=step.ok, ms=round(step.ms, 1), detail=step.detail
        )
    if not findings.ok("http"):
        raise ClientError(f"the server at {base} does not answer HTTP: nothing else to probe")
    verdict = recommend(findings)
    for name, (lives, reason) in verdict.survivors.items():
        text = f"{'lives' if lives else 'dies '} {name:<10} {reason}"
        out.record("survives", text, protocol=name, lives=lives, reason=reason)
    idle = findings.idle.timeout_s if findings.idle is not None else None
    line = (
        f"recommendation: {verdict.transport} ({verdict.why})"
        if verdict.transport
        else f"recommendation: none ({verdict.why})"
    )
    out.record(
        "recommendation", line, transport=verdict.transport, why=verdict.why, idle_timeout_s=idle
    )
    return 0 if verdict.transport else 1
