"""The command line: bad options are one line and status 2, --help explains each protocol,
an unreachable server is one line and status 1."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from client.__main__ import main
from tests.processes import finish, free_port

BAD_OPTIONS = [
    pytest.param([], id="no-command"),
    pytest.param(["teleport"], id="unknown-command"),
    pytest.param(["ws", "--bogus"], id="unknown-option"),
    pytest.param(["ws", "--count", "0"], id="count-zero"),
    pytest.param(["ws", "--size", "-1"], id="negative-size"),
    pytest.param(["ws", "hi", "--size", "3"], id="ws-two-message-sources"),
    pytest.param(["ws", "--url", "ftp://example.org"], id="url-scheme"),
    pytest.param(["ws", "--url", "not a url"], id="url-garbage"),
    pytest.param(["sse", "--interval", "-5"], id="sse-negative-interval"),
    pytest.param(["sse", "--count", "lots"], id="sse-count-not-a-number"),
    pytest.param(["http", "--data", "a", "--size", "3"], id="http-two-bodies"),
    pytest.param(["http", "-X", "DELETE"], id="http-method"),
    pytest.param(["http", "--query", "novalue"], id="http-query-without-equals"),
    pytest.param(["room"], id="room-without-name"),
    pytest.param(["room", "no spaces!"], id="room-bad-name"),
    pytest.param(["room", "lobby", "--via", "carrier-pigeon"], id="room-bad-via"),
    pytest.param(["bench"], id="bench-without-scenario"),
    pytest.param(["bench", "speed"], id="bench-unknown-scenario"),
    pytest.param(["bench", "rtt", "-n", "many"], id="bench-count-not-a-number"),
    pytest.param(["bench", "rtt", "--protocols", "ws,carrier-pigeon"], id="bench-protocol"),
    pytest.param(["bench", "rtt", "--protocols", "poll"], id="bench-protocol-not-in-rtt"),
    pytest.param(["bench", "fanout", "--clients", "1,x"], id="bench-clients"),
    pytest.param(["bench", "push", "--rate", "0"], id="bench-rate-zero"),
    pytest.param(["bench", "overhead", "--clients", "3"], id="bench-clients-not-in-overhead"),
    pytest.param(["bench", "rtt", "--plot", "results.jpg"], id="bench-plot-not-png"),
]


@pytest.mark.parametrize("argv", BAD_OPTIONS)
def test_bad_options_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "error:" in lines[0]


async def test_bad_option_in_a_real_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "client",
        "bench",
        "rtt",
        "--count",
        "-3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert await finish(process) == 2
    assert out == b""
    assert err.decode().splitlines() == [
        "python -m client bench rtt: error: argument -n/--count: must be between 1 and "
        "1000000, got -3 (try --help)"
    ]


HELP_MENTIONS = [
    pytest.param(["ws"], ["RFC 6455", "101 Switching Protocols", "masked", "--binary"], id="ws"),
    pytest.param(["sse"], ["text/event-stream", "Last-Event-ID", "retry:", "204"], id="sse"),
    pytest.param(["http"], ["kept alive", "/http/echo", "--count"], id="http"),
    pytest.param(["room"], ["--via ws", "--via sse", "--via http", "POST"], id="room"),
    pytest.param(
        ["bench"], ["rtt", "push", "fanout", "overhead", "reconnect", "--plot"], id="bench"
    ),
    pytest.param(
        ["bench", "reconnect"], ["--outage", "--cuts", "--no-resume"], id="bench-reconnect"
    ),
    pytest.param(["bench", "push"], ["--rate", "--poll-interval", "--clients"], id="bench-push"),
]


@pytest.mark.parametrize(("argv", "mentions"), HELP_MENTIONS)
def test_help_explains_the_protocol(
    argv: list[str], mentions: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for mention in mentions:
        assert mention in text


UNREACHABLE = [
    pytest.param(["ws", "hello"], id="ws"),
    pytest.param(["sse"], id="sse"),
    pytest.param(["http"], id="http"),
    pytest.param(["room", "lobby", "--via", "ws"], id="room-ws"),
    pytest.param(["room", "lobby", "--via", "sse"], id="room-sse"),
    pytest.param(["room", "lobby", "--via", "http"], id="room-http"),
    pytest.param(["bench", "rtt", "-n", "1"], id="bench"),
]


@pytest.mark.parametrize("argv", UNREACHABLE)
def test_unreachable_server_is_one_line_and_status_1(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main([*argv, "--url", url, "--json"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("python -m client: error: ")
    assert "connection refused" in lines[0]


def test_unreadable_cafile_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    assert main(["http", "--url", "https://127.0.0.1:1", "--cafile", str(missing)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"python -m client: error: cannot use --cafile {missing}: No such file or directory"
    ]
