"""The proxy templates and the launcher's checks, without starting anything."""

from pathlib import Path

import pytest

from scripts.proxy import (
    TEMPLATES,
    ProxySetup,
    make_runtime_dir,
    render,
    timeout_warnings,
    write_config,
)


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_every_name_in_a_template_is_filled_in(kind: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("CERT\n")
    key.write_text("KEY\n")
    runtime = make_runtime_dir()
    try:
        config = write_config(ProxySetup(kind, app_port=8080, cert=cert, key=key), runtime)
        text = config.read_text()
    finally:
        for path in runtime.iterdir():
            path.unlink()
        runtime.rmdir()
    assert "{{" not in text
    assert "127.0.0.1:8080" in text
    assert "60s" in text  # the idle timeout, with the reason for it beside


def test_templates_commit_nothing_machine_specific() -> None:
    for template in TEMPLATES.values():
        text = template.read_text()
        assert "/home/" not in text
        assert "/root" not in text
        assert ".pem" not in text  # certificate paths are filled in


def test_an_unknown_name_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(KeyError, match="idle"):
        render("timeout {{idle}}s;", {"idle_timeout": 60})


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ws_heartbeat": 20, "sse_ping_interval": 15}, []),
        ({"ws_heartbeat": 0, "sse_ping_interval": 15}, ["--ws-heartbeat is off"]),
        ({"ws_heartbeat": 90, "sse_ping_interval": 15}, ["--ws-heartbeat 90 s"]),
        ({"ws_heartbeat": 20, "sse_ping_interval": 75}, ["--sse-ping-interval 75 s"]),
    ],
)
def test_the_launcher_warns_when_the_proxy_would_cut_healthy_connections(
    settings: dict[str, float], expected: list[str]
) -> None:
    warnings = timeout_warnings(settings, idle_timeout=60)
    assert len(warnings) == len(expected)
    for warning, start in zip(warnings, expected, strict=True):
        assert warning.startswith(start)
