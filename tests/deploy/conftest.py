"""Real nginx and HAProxy in front of a real `python -m server`, each on free loopback ports.

Every proxy is started from the committed template (deploy/), filled in by the launcher's own
functions (scripts/proxy.py) with a short idle timeout where a test needs one, and stopped
after the test. The TLS certificate is the server's own localhost certificate and CA, made
in a temporary folder. A missing proxy skips its tests with the reason (`make test` installs
both as root); on CI (env `CI` set) it fails instead: a green run must mean they ran.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scripts.proxy import (
    ProxySetup,
    make_runtime_dir,
    proxy_binary,
    proxy_command,
    wait_listening,
    write_config,
)
from server.tls import LocalCertificate, ensure_local_certificate
from tests.browser.conftest import ServerProcess
from tests.processes import free_port

PROXIES = ("nginx", "haproxy")
START_LIMIT_S = 15.0


def require_proxy(kind: str) -> str:
    """The proxy's program; skip (locally) or fail (on CI) when it is not installed."""
    binary = proxy_binary(kind)
    if binary:
        return binary
    problem = f"{kind} is not installed (apt-get install {kind}; make test does it as root)"
    if os.environ.get("CI"):
        pytest.fail(f"proxy tests cannot run on CI: {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificate:
    """The server's localhost certificate and its CA, made for this run only."""
    return ensure_local_certificate(tmp_path_factory.mktemp("tls"))


@dataclass
class ProxyProcess:
    """One proxy in the foreground, its configuration and logs in `runtime_dir`."""

    setup: ProxySetup
    binary: str
    runtime_dir: Path = field(default_factory=make_runtime_dir)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.setup.url

    @property
    def log_path(self) -> Path:
        return self.runtime_dir / "proxy.log"

    def start(self) -> None:
        """Fill in the template, start the proxy and wait until it accepts connections."""
        config = write_config(self.setup, self.runtime_dir)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                proxy_command(self.setup, self.binary, config),
                cwd=self.runtime_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_listening(
                self.setup.listen_host, self.setup.listen_port, self.process, START_LIMIT_S
            )
        except Exception as exc:
            self.stop()
            raise AssertionError(f"{self.setup.kind} did not start:\n{self.log()}") from exc

    def stop(self) -> None:
        """Stop the proxy and remove its folder (configuration, logs, nginx's buffers)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def log(self) -> str:
        """What the proxy wrote (HAProxy's request log, nginx's errors)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def access_log(self) -> str:
        """nginx's access log (HAProxy logs requests to `log()`)."""
        path = self.runtime_dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Deployed:
    """The app and the proxy in front of it."""

    app: ServerProcess
    proxy: ProxyProcess
    ca: Path

    @property
    def url(self) -> str:
        return self.proxy.url

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca)


DeployFactory = Callable[..., Deployed]


def deploy(
    kind: str,
    folder: Path,
    certificate: LocalCertificate,
    server_args: list[str],
    **setup: Any,
) -> Deployed:
    """Start the app with `server_args` behind a `kind` proxy configured with `setup`."""
    binary = require_proxy(kind)
    app = ServerProcess(folder / f"server-{kind}.log", args=["--trusted-proxies", "127.0.0.1"])
    app.args += server_args
    app.start()
    proxy = ProxyProcess(
        ProxySetup(
            kind=kind,
            app_port=app.port,
            cert=certificate.cert,
            key=certificate.key,
            listen_port=free_port(),
            **setup,
        ),
        binary,
    )
    try:
        proxy.start()
    except BaseException:
        app.stop()
        raise
    return Deployed(app, proxy, certificate.ca)


@pytest.fixture
def behind_proxy(tmp_path: Path, certificate: LocalCertificate) -> Iterator[DeployFactory]:
    """`behind_proxy("nginx", ["--ws-heartbeat", "1"], idle_timeout=2)`: started, and
    stopped after the test."""
    started: list[Deployed] = []

    def start(kind: str, server_args: list[str] | None = None, **setup: Any) -> Deployed:
        deployed = deploy(kind, tmp_path, certificate, server_args or [], **setup)
        started.append(deployed)
        return deployed

    yield start
    for deployed in started:
        deployed.proxy.stop()
        deployed.app.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose TLS connections are all aborted at the end.

    Closing a TLS connection waits for the peer's close_notify, which a proxy that is cutting
    the connection never sends; one still waiting when the test's event loop ends would be
    reported as leaked. So every connection (event streams and WebSocket upgrades included)
    is remembered when its response arrives, and aborted after the session is closed.
    """
    transports: list[asyncio.Transport] = []

    async def remember(_session: object, _context: object, params: Any) -> None:
        connection = params.response.connection
        if connection is not None and connection.transport is not None:
            transports.append(connection.transport)

    tracing = aiohttp.TraceConfig()
    tracing.on_request_end.append(remember)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=60),
        trace_configs=[tracing],
    ) as client:
        yield client
    for transport in transports:
        transport.abort()
    await asyncio.sleep(0)  # one turn of the loop: aborted sockets are closed in it
