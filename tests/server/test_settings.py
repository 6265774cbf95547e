"""Settings: defaults, environment, command line, and one-line errors for bad values."""

import socket
import subprocess
import sys
from dataclasses import fields

import pytest

from server.settings import Settings, SettingsError, env_name, load_settings


def test_defaults_match_the_documented_contract() -> None:
    settings = load_settings([], environ={})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.ws_max_size == 4 * 1024 * 1024
    assert settings.http_max_body == 10 * 1024 * 1024
    assert settings.ws_compress is True


def test_environment_sets_options_and_command_line_wins() -> None:
    environ = {
        "PROTOCOL_LAB_PORT": "9000",
        "PROTOCOL_LAB_WS_COMPRESS": "off",
        "PROTOCOL_LAB_WS_HEARTBEAT": "2.5",
    }
    settings = load_settings(["--port", "9100"], environ=environ)
    assert settings.port == 9100
    assert settings.ws_compress is False
    assert settings.ws_heartbeat == 2.5
    assert load_settings(["--ws-compress"], environ=environ).ws_compress is True


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--port", "70000"], {}, "--port must be between 0 and 65535"),
        (["--ws-max-size", "-1"], {}, "--ws-max-size must be at least 0"),
        (["--sse-ping-interval", "0"], {}, "--sse-ping-interval must be at least"),
        (["--static-dir", "/nonexistent"], {}, "is not a folder"),
        ([], {"PROTOCOL_LAB_PORT": "eighty"}, "PROTOCOL_LAB_PORT='eighty' is not a valid int"),
        ([], {"PROTOCOL_LAB_WS_COMPRESS": "maybe"}, "PROTOCOL_LAB_WS_COMPRESS"),
        (["--allowed-origins", "evil.example"], {}, "--allowed-origins: 'evil.example' is not"),
        (["--header-timeout", "0"], {}, "--header-timeout must be at least"),
        (["--max-connections-per-ip", "-1"], {}, "--max-connections-per-ip must be at least 0"),
        (["--key", __file__], {}, "--cert and --key go together"),
    ],
)
def test_invalid_values_are_refused(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(argv, environ=environ)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "args", [["--port", "abc"], ["--port", "-3"], ["--log-level", "loud"], ["--no-such-option"]]
)
def test_cli_refuses_bad_options_with_one_line_and_status_2(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1
    assert len(result.stderr.splitlines()) <= 2, result.stderr  # not the 30-line usage


def test_a_mistyped_option_gets_the_nearest_real_one() -> None:
    result = run_cli("--prot", "9000")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "python -m server: error: unrecognized arguments: --prot 9000 (did you mean --port?)",
        "See `python -m server --help` for every option.",
    ]


def test_a_busy_port_says_what_to_do() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("--port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"Port {port} is taken" in result.stderr
    assert "--port 0" in result.stderr


def test_help_documents_every_option_and_its_variable() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for spec in fields(Settings):
        assert "--" + spec.name.replace("_", "-") in text
        assert env_name(spec.name) in text
