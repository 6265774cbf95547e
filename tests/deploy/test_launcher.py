"""`make proxy` as documented: the launcher starts the app and the proxy, prints the URL
and the CA to trust, serves over HTTP/2, and stops both on Ctrl-C."""

import asyncio
import os
import re
import signal
import ssl
import sys

import aiohttp
import pytest

from tests.deploy.conftest import PROXIES, require_proxy
from tests.processes import LINE_LIMIT_S, Lines, finish, free_port

URL = re.compile(r"behind (\w+): (https://\S+)")
APP = re.compile(r"the app itself \(direct, HTTP/1\.1\): (http://\S+)")
CA = re.compile(r"signed by the local CA (\S+)")


def found(pattern: re.Pattern[str], line: str) -> re.Match[str]:
    """The pattern's match in a line the launcher printed (a failure names the line)."""
    match = pattern.search(line)
    assert match is not None, line
    return match


async def negotiated_protocol(port: int, ca: str) -> str | None:
    """What the proxy picks when a client offers HTTP/2 and HTTP/1.1 (ALPN), as browsers do."""
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        tls: ssl.SSLObject = writer.get_extra_info("ssl_object")
        return tls.selected_alpn_protocol()
    finally:
        writer.transport.abort()  # nothing was sent: no TLS close to wait for


@pytest.mark.parametrize("kind", PROXIES)
async def test_launcher_serves_through_the_proxy_and_stops_both_on_ctrl_c(
    kind: str, tmp_path
) -> None:
    require_proxy(kind)
    port = free_port()
    # A fresh cache folder: the launcher makes the local CA there, as `--tls` would.
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    launcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.proxy",
        "--proxy",
        kind,
        "--port",
        str(port),
        "--log-level",  # an option for the server, passed on
        "warning",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert launcher.stdout is not None
    lines = Lines(launcher.stdout)
    try:
        url_line = await lines.until(lambda line: URL.search(line) is not None, 2 * LINE_LIMIT_S)
        app_url = found(APP, await lines.until(lambda line: "app itself" in line)).group(1)
        ca = found(CA, await lines.until(lambda line: "local CA" in line)).group(1)
        assert found(URL, url_line).groups() == (kind, f"https://127.0.0.1:{port}")
        assert ca.startswith(str(tmp_path))
        context = ssl.create_default_context(cafile=ca)
        assert await negotiated_protocol(port, ca) == "h2"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/healthz", ssl=context) as reply:
                assert reply.status == 200
            launcher.send_signal(signal.SIGINT)
            assert await finish(launcher) == 0
            for gone in (f"https://127.0.0.1:{port}/healthz", f"{app_url}/healthz"):
                with pytest.raises(aiohttp.ClientConnectionError):
                    async with session.get(gone, ssl=context):
                        pass
    finally:
        if launcher.returncode is None:
            launcher.kill()
            await launcher.wait()
