"""Every command against the real server, in-process: what a user sees, and the JSON lines."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from yarl import URL

from client.urls import parse_base_url
from tests.client.conftest import CliRunner

# --- ws -----------------------------------------------------------------------------------------


async def test_ws_echoes_each_argument_with_its_round_trip_time(cli: CliRunner, url: str) -> None:
    run = await cli("ws", "hello", "wide world", "--url", url)
    assert run.code == 0
    lines = run.out.splitlines()
    assert [line.split("  (")[0] for line in lines] == ["echo 1: hello", "echo 2: wide world"]
    assert all(line.endswith(" ms)") for line in lines)
    assert "sent 2, echoed 2, resent 0, reconnected 0 time(s)" in run.err
    assert "round trip min" in run.err


async def test_ws_json_generated_binary_messages(cli: CliRunner, url: str) -> None:
    run = await cli("ws", "--size", "100", "--count", "3", "--binary", "--json", "--url", url)
    assert run.code == 0
    echoes = run.records("echo")
    assert [echo["n"] for echo in echoes] == [1, 2, 3]
    for echo in echoes:
        assert echo["bytes"] == 100
        assert echo["matches"] is True
        assert len(base64.b64decode(echo["data_base64"])) == 100
        assert echo["rtt_ms"] > 0
    (summary,) = run.records("summary")
    assert summary["sent"] == summary["echoed"] == 3
    assert {"min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "reconnects"} <= summary.keys()
    states = [state["state"] for state in run.records("state")]
    assert states[:2] == ["connecting", "open"]


async def test_ws_messages_from_a_file_repeated(cli: CliRunner, url: str, tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("first\nsécond\n", encoding="utf-8")
    run = await cli("ws", "--file", str(lines), "--count", "2", "--json", "--url", url)
    assert run.code == 0
    assert [echo["data"] for echo in run.records("echo")] == ["first", "sécond"] * 2


async def test_ws_missing_file_is_one_line(cli: CliRunner, url: str, tmp_path: Path) -> None:
    run = await cli("ws", "--file", str(tmp_path / "absent.txt"), "--url", url)
    assert run.code == 1
    missing = tmp_path / "absent.txt"
    assert run.err.splitlines() == [  # checked before connecting
        f"python -m client: error: cannot read {missing}: No such file or directory"
    ]


# --- sse ----------------------------------------------------------------------------------------


async def test_sse_prints_ticks_then_stops_on_204(cli: CliRunner, url: str) -> None:
    run = await cli("sse", "--count", "3", "--interval", "10", "--json", "--url", url)
    assert run.code == 0
    events = run.records("event")
    assert [event["id"] for event in events] == ["1", "2", "3"]
    assert [json.loads(event["data"])["seq"] for event in events] == [1, 2, 3]
    assert all(event["event"] == "tick" for event in events)
    states = run.records("state")
    # Like EventSource: the stream ended, it reconnected with the last id, got 204, stopped.
    reconnect = next(s for s in states if s["state"] == "connecting" and s["last_event_id"])
    assert reconnect["last_event_id"] == "3"
    assert states[-1]["state"] == "closed"
    assert "204" in states[-1]["reason"]
    (summary,) = run.records("summary")
    assert summary["events"] == 3
    assert summary["last_event_id"] == "3"
    assert (summary["reconnects"], summary["reconnect_attempts"]) == (0, 1)


async def test_sse_human_output(cli: CliRunner, url: str) -> None:
    run = await cli("sse", "--count", "2", "--interval", "0", "--url", url)
    assert run.code == 0
    assert [line.split(":")[0] for line in run.out.splitlines()] == ["[1] tick", "[2] tick"]
    assert "* connected to" in run.err
    assert "204 No Content" in run.err
    # It announced "reconnecting ... (attempt 1)", and the 204 made that attempt the last:
    # the summary accounts for it instead of a bare "reconnected 0 time(s)".
    assert "reconnecting in" in run.err
    assert "received 2 event(s), reconnected 0 time(s) in 1 attempt(s)" in run.err


async def test_sse_resumes_after_a_given_last_event_id(cli: CliRunner, url: str) -> None:
    run = await cli(
        "sse", "--count", "7", "--interval", "0", "--last-event-id", "5", "--json", "--url", url
    )
    assert [event["id"] for event in run.records("event")] == ["6", "7"]


async def test_sse_any_source_path_and_max_events(cli: CliRunner, url: str) -> None:
    run = await cli("sse", "/sse/stream?interval=0", "--max-events", "4", "--json", "--url", url)
    assert run.code == 0
    assert [event["id"] for event in run.records("event")] == ["1", "2", "3", "4"]


async def test_sse_fails_the_connection_on_an_error_status(cli: CliRunner, url: str) -> None:
    run = await cli("sse", "/sse/nowhere", "--url", url)
    assert run.code == 1
    last = run.err.splitlines()[-1]
    assert last.startswith("python -m client: error: HTTP 404")
    assert "reconnecting" not in run.err  # EventSource does not retry a failed connection


async def test_sse_fails_the_connection_on_a_non_event_stream(cli: CliRunner, url: str) -> None:
    run = await cli("sse", "/healthz", "--url", url)
    assert run.code == 1
    assert "not text/event-stream" in run.err.splitlines()[-1]


# --- http ---------------------------------------------------------------------------------------


async def test_http_get_shows_status_timing_and_body(cli: CliRunner, url: str) -> None:
    run = await cli("http", "-q", "name=value", "-q", "name=again", "--url", url)
    assert run.code == 0
    first, kind, body = run.out.splitlines()
    assert first.startswith(f"GET {url}/http/echo?name=value&name=again -> 200 OK in ")
    assert "new connection" in first
    assert kind.startswith("application/json")
    assert json.loads(body)["query"] == {"name": ["value", "again"]}


async def test_http_post_repeated_on_a_kept_alive_connection(cli: CliRunner, url: str) -> None:
    run = await cli("http", "--data", "hello", "--count", "3", "--json", "--url", url)
    assert run.code == 0
    responses = run.records("response")
    assert [r["body"] for r in responses] == ["hello"] * 3
    assert [r["method"] for r in responses] == ["POST"] * 3
    assert [r["reused_connection"] for r in responses] == [False, True, True]
    assert responses[0]["content_type"].startswith("text/plain")
    assert {"status", "ms", "first_byte_ms", "connect_ms", "bytes", "headers"} <= set(responses[0])
    (summary,) = run.records("summary")
    assert summary["requests"] == 3
    assert summary["failed"] == 0


async def test_http_generated_body_and_headers(cli: CliRunner, url: str) -> None:
    run = await cli("http", "--size", "26", "-i", "--url", url)
    assert run.code == 0
    assert "Content-Length: 26" in run.out
    assert "abcdefghijklmnopqrstuvwxyz" in run.out


async def test_http_error_status_is_printed_and_exits_1(cli: CliRunner, url: str) -> None:
    run = await cli("http", "/http/nowhere", "--url", url)
    assert run.code == 1
    assert "-> 404 Not Found" in run.out
    assert "no such resource" in run.out


@pytest.mark.parametrize("endpoint", ["/ws/echo", "/ws/echo/", "/sse/stream", "/ws/room/lobby"])
async def test_url_with_an_endpoint_means_the_server(
    cli: CliRunner, url: str, endpoint: str
) -> None:
    """People paste the URL they saw: it used to dial /ws/echo/ws/echo and get a 404."""
    run = await cli("ws", "hello", "--url", url + endpoint)
    assert run.code == 0, run.err
    assert "echo 1: hello" in run.out
    assert "/ws/echo/ws/echo" not in run.err


def test_url_keeps_a_path_prefix_but_not_an_endpoint() -> None:
    assert parse_base_url("http://h:1/lab/ws/echo") == URL("http://h:1/lab")
    assert parse_base_url("ws://h:1/ws/echo") == URL("http://h:1")
    assert parse_base_url("http://h:1/lab/") == URL("http://h:1/lab")
    assert parse_base_url("http://h:1/ws/echoes") == URL("http://h:1/ws/echoes")


@pytest.mark.parametrize("argv", [["ws", "hello"], ["http", "--data", "x"], ["sse"]])
async def test_https_against_a_plain_port_says_so(
    cli: CliRunner, url: str, argv: list[str]
) -> None:
    run = await cli(*argv, "--url", url.replace("http://", "https://"))
    assert run.code == 1
    error = run.err.splitlines()[-1]
    assert "does not speak TLS on this port" in error, run.err
    assert "SSL" not in error
