"""Run Protocol Lab behind a real reverse proxy: `make proxy PROXY=nginx|haproxy`.

Starts the app on a free loopback port (plain HTTP, `--trusted-proxies 127.0.0.1`) and the
proxy on https://127.0.0.1:8443 in front of it, with HTTP/2 and the server's own local
certificate (the one `--tls` makes, in ~/.cache/protocol-lab) or `--cert/--key`. Prints the
URL and how to trust the CA; Ctrl-C stops both. Options it does not know go to the server:

    make proxy PROXY=nginx ARGS="--idle-timeout 5 --ws-heartbeat 0"

The proxy's configuration is filled in from deploy/<proxy>.*.template into a temporary
folder (with its logs), which is removed on exit: nothing machine-specific is committed.
Without the proxy installed it installs the Debian package when run as root, and otherwise
says what to install.

The tests (tests/deploy) start their proxies with the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
TEMPLATES = {"nginx": DEPLOY / "nginx.conf.template", "haproxy": DEPLOY / "haproxy.cfg.template"}
# The proxies' own defaults, written out so the page's experiment can name the number.
DEFAULT_H2_STREAMS = {"nginx": 128, "haproxy": 100}
DEFAULT_IDLE_TIMEOUT_S = 60.0
START_LIMIT_S = 15.0
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_BANNER = re.compile(r"serving on (http://\S+)")


class ProxyError(Exception):
    """The proxy or the app cannot be started; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ProxySetup:
    """Everything a proxy configuration is filled in with."""

    kind: str  # "nginx" or "haproxy"
    app_port: int
    cert: Path
    key: Path
    listen_port: int = 8443
    listen_host: str = "127.0.0.1"
    app_host: str = "127.0.0.1"
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S
    gzip: bool = True
    # The pitfall of lab 09: nginx buffers event streams whatever the app asks (nginx only).
    buffer_event_streams: bool = False
    h2_max_streams: int | None = None

    @property
    def url(self) -> str:
        """Where browsers connect."""
        return f"https://{self.listen_host}:{self.listen_port}"


def render(template: str, values: Mapping[str, object]) -> str:
    """`template` with every `{{name}}` replaced; raises `KeyError` for a name not given."""
    return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


def write_config(setup: ProxySetup, runtime_dir: Path) -> Path:
    """Fill in the template of `setup.kind` into `runtime_dir`; returns the file written."""
    values: dict[str, object] = {
        "runtime_dir": runtime_dir,
        "listen_host": setup.listen_host,
        "listen_port": setup.listen_port,
        "app_host": setup.app_host,
        "app_port": setup.app_port,
        "cert": setup.cert,
        "key": setup.key,
        "idle_timeout": f"{setup.idle_timeout:g}",
        "gzip": "on" if setup.gzip else "off",
        "h2_max_streams": setup.h2_max_streams or DEFAULT_H2_STREAMS[setup.kind],
        "sse_buffering": (
            # The app's X-Accel-Buffering: no is ignored and every response is buffered.
            "proxy_ignore_headers X-Accel-Buffering; proxy_buffering on;"
            if setup.buffer_event_streams
            else "proxy_buffering on;"
        ),
    }
    if setup.kind == "haproxy":  # HAProxy takes the certificate and its key in one file
        pem = runtime_dir / "haproxy.pem"
        _write_private(pem, setup.cert.read_bytes() + b"\n" + setup.key.read_bytes())
        values["pem"] = pem
    template = TEMPLATES[setup.kind]
    config = runtime_dir / template.name.removesuffix(".template")
    config.write_text(render(template.read_text(), values))
    return config


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def proxy_binary(kind: str) -> str | None:
    """The path of the `nginx` or `haproxy` program, or None (Debian puts them in /usr/sbin,
    which is not on every user's PATH)."""
    return shutil.which(kind) or shutil.which(kind, path="/usr/sbin:/usr/local/sbin")


def ensure_installed(kind: str) -> str:
    """The proxy's program; installs the Debian package first when missing and run as root.

    Raises `ProxyError` saying what to install when that is not possible.
    """
    found = proxy_binary(kind)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"{kind} is not installed: installing the Debian package", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", kind]
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(install, env=env, check=False)
        # The package's own service (port 80) is not wanted: the launcher runs its own.
        if shutil.which("service"):
            subprocess.run(["service", kind, "stop"], capture_output=True, check=False)
        found = proxy_binary(kind)
        if found:
            return found
    raise ProxyError(f"{kind} is not installed; install it with: sudo apt-get install {kind}")


def proxy_command(setup: ProxySetup, binary: str, config: Path) -> list[str]:
    """The command line that runs the proxy in the foreground with `config`."""
    if setup.kind == "nginx":
        # -e: errors go to stderr from the start (before the config names a log file).
        return [binary, "-c", str(config), "-e", "stderr"]
    return [binary, "-f", str(config), "-db"]


def make_runtime_dir() -> Path:
    """A temporary folder for the filled-in config, logs and nginx's buffers.

    Traversable by others (mode 0711) because nginx's workers drop root and must reach the
    buffer folders nginx creates for them inside; the files holding keys stay 0600.
    """
    folder = Path(tempfile.mkdtemp(prefix="protocol-lab-proxy-"))
    folder.chmod(0o711)
    return folder


def wait_listening(host: str, port: int, process: subprocess.Popen[bytes], limit_s: float) -> None:
    """Return once `host:port` accepts connections; raise `ProxyError` if `process` exits
    or `limit_s` seconds pass first."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProxyError(f"the proxy exited with status {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # nothing to wait on but the port itself
    raise ProxyError(f"nothing listens on {host}:{port} after {limit_s:g} s")


@dataclass
class Launched:
    """The processes the launcher started, stopped in reverse order."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """SIGTERM each (the app closes WebSockets with 1001), then wait; kill stragglers."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_app(server_args: Sequence[str], launched: Launched) -> tuple[str, int]:
    """`python -m server` on a free loopback port behind the proxy; returns (host, port)."""
    command = [
        sys.executable,
        "-m",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--trusted-proxies",
        "127.0.0.1",
        *server_args,
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    launched.processes.append(process)
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip()
        if match := _BANNER.search(line):
            url = match.group(1)
            return "127.0.0.1", int(url.rsplit(":", 1)[1])
        print(line, flush=True)
    raise ProxyError(f"the server did not start (exit status {process.wait()})")


def app_settings(host: str, port: int) -> dict[str, object]:
    """The app's effective settings, from its own `/api/config`."""
    with urllib.request.urlopen(f"http://{host}:{port}/api/config", timeout=5) as response:
        return dict(json.load(response))


def timeout_warnings(settings: Mapping[str, object], idle_timeout: float) -> list[str]:
    """What will be cut by the proxy's idle timeout with these app settings."""
    warnings = []
    heartbeat = float(settings.get("ws_heartbeat", 0) or 0)  # type: ignore[arg-type]
    ping = float(settings.get("sse_ping_interval", 0) or 0)  # type: ignore[arg-type]
    if heartbeat <= 0:
        warnings.append(
            f"--ws-heartbeat is off: a WebSocket quiet for {idle_timeout:g} s will be cut "
            "by the proxy without a close frame (the browser sees 1006)"
        )
    elif heartbeat >= idle_timeout:
        warnings.append(
            f"--ws-heartbeat {heartbeat:g} s is not shorter than the proxy's idle timeout "
            f"{idle_timeout:g} s: idle WebSockets will be cut"
        )
    if ping >= idle_timeout:
        warnings.append(
            f"--sse-ping-interval {ping:g} s is not shorter than the proxy's idle timeout "
            f"{idle_timeout:g} s: quiet event streams will be cut (EventSource reconnects)"
        )
    return warnings


def local_certificate(cert_dir: Path) -> tuple[Path, Path, Path]:
    """The server's own localhost certificate, key and CA (made on first use)."""
    from server.tls import ensure_local_certificate  # the same files `--tls` uses

    files = ensure_local_certificate(cert_dir)
    return files.cert, files.key, files.ca


def banner(setup: ProxySetup, app_port: int, ca: Path | None) -> str:
    """What the launcher prints once both listen: the URL first, then how to trust it."""
    lines = [
        f"Protocol Lab behind {setup.kind}: {setup.url}  (Ctrl-C stops both)",
        f"  the app itself (direct, HTTP/1.1): http://{setup.app_host}:{app_port}",
        f"  proxy idle timeout {setup.idle_timeout:g} s" + _nginx_notes(setup),
    ]
    if ca is not None:
        lines += [
            f"TLS certificate for localhost, 127.0.0.1 and ::1, signed by the local CA {ca}",
            "Trust that CA (it is limited to those three names) to connect without warnings:",
            f"  curl --cacert {ca} {setup.url}/healthz",
            f"  python -m client ws --url {setup.url} --cafile {ca}",
            "  browsers: import it under Settings > Certificates > Authorities, "
            "or accept the warning once",
        ]
    return "\n".join(lines)


def _nginx_notes(setup: ProxySetup) -> str:
    if setup.kind != "nginx":
        return ""
    notes = f"; gzip {'on' if setup.gzip else 'off'}"
    if setup.buffer_event_streams:
        notes += "; event streams BUFFERED (X-Accel-Buffering ignored: the pitfall)"
    return notes


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The launcher's own options; everything else is for `python -m server`."""
    parser = argparse.ArgumentParser(
        prog="make proxy PROXY=nginx|haproxy ARGS=...",
        description="Run Protocol Lab behind nginx or HAProxy on https://127.0.0.1:8443. "
        "Options not listed here are passed to the server (e.g. --ws-heartbeat 5).",
    )
    parser.add_argument("--proxy", choices=sorted(TEMPLATES), default="nginx")
    parser.add_argument("--port", type=int, default=8443, help="the proxy's HTTPS port")
    parser.add_argument("--cert", type=Path, help="PEM certificate (default: the local one)")
    parser.add_argument("--key", type=Path, help="PEM private key of --cert")
    parser.add_argument("--ca", type=Path, help="CA of --cert, printed for clients to trust")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        help="seconds the proxy lets a connection stay quiet before cutting it; keep it "
        "above the app's --ws-heartbeat and --sse-ping-interval",
    )
    parser.add_argument("--gzip", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--buffer-event-streams",
        action="store_true",
        help="nginx only: ignore the app's X-Accel-Buffering: no and buffer event streams "
        "(the pitfall of lab 09)",
    )
    parser.add_argument(
        "--h2-max-streams", type=int, help="HTTP/2 streams per connection (proxy's default)"
    )
    return parser.parse_known_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app and the proxy until Ctrl-C; 1 if either cannot start or stops."""
    args, server_args = parse_args(sys.argv[1:] if argv is None else argv)
    if (args.cert is None) != (args.key is None):
        print("make proxy: --cert and --key go together", file=sys.stderr)
        return 2
    launched = Launched()
    runtime_dir = make_runtime_dir()
    # Ctrl-C and SIGTERM both stop everything. Installed explicitly: a launcher started in
    # the background by a script inherits SIGINT ignored, and must still obey Ctrl-C.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        return _run(args, server_args, launched, runtime_dir)
    except ProxyError as exc:
        print(f"make proxy: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        launched.stop()
        shutil.rmtree(runtime_dir, ignore_errors=True)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _run(
    args: argparse.Namespace, server_args: list[str], launched: Launched, runtime_dir: Path
) -> int:
    binary = ensure_installed(args.proxy)
    if args.cert is not None:
        cert, key, ca = args.cert, args.key, args.ca
    else:
        from server.settings import DEFAULT_CERT_DIR

        cert, key, ca = local_certificate(DEFAULT_CERT_DIR)
    app_host, app_port = start_app(server_args, launched)
    setup = ProxySetup(
        kind=args.proxy,
        app_port=app_port,
        cert=cert,
        key=key,
        listen_port=args.port,
        idle_timeout=args.idle_timeout,
        gzip=args.gzip,
        buffer_event_streams=args.buffer_event_streams,
        h2_max_streams=args.h2_max_streams,
    )
    config = write_config(setup, runtime_dir)
    proxy = subprocess.Popen(proxy_command(setup, binary, config), cwd=runtime_dir)
    launched.processes.insert(0, proxy)  # stopped last: the app says goodbye through it
    wait_listening(setup.listen_host, setup.listen_port, proxy, START_LIMIT_S)
    print(banner(setup, app_port, ca), flush=True)
    for warning in timeout_warnings(app_settings(app_host, app_port), setup.idle_timeout):
        print(f"warning: {warning}", flush=True)
    while True:  # until Ctrl-C, or one of the two stops by itself
        for process in launched.processes:
            if process.poll() is not None:
                name = setup.kind if process is proxy else "the server"
                print(f"make proxy: {name} stopped (status {process.returncode})")
                return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
