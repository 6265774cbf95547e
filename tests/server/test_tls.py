"""TLS: https, wss and SSE over TLS with a test CA; a wrong CA is refused; the certificate
the server makes for itself when given none."""

import asyncio
import datetime as dt
import re
import ssl
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from cryptography import x509

from server.settings import Settings, SettingsError
from server.tls import LocalCertificate, ensure_local_certificate
from tests.server.conftest import LiveServer, LiveServerFactory


def client_context(trusting: trustme.CA | Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if isinstance(trusting, Path):
        context.load_verify_locations(cafile=trusting)
    else:
        trusting.configure_trust(context)
    return context


@pytest.fixture(scope="module")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(
    start_live_server: LiveServerFactory, test_ca: trustme.CA, tmp_path: Path
) -> LiveServer:
    """The server with `--tls --cert --key`, the certificate issued by the test CA."""
    issued = test_ca.issue_cert("127.0.0.1", "localhost", "::1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(cert)
    issued.private_key_pem.write_to_path(key)
    return await start_live_server(tls=True, cert=cert, key=key)


@pytest.fixture
async def trusting_session(test_ca: trustme.CA) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=client_context(test_ca))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_https_serves_get_and_post(tls_server, trusting_session) -> None:
    assert str(tls_server.url).startswith("https://127.0.0.1:")
    async with trusting_session.get(tls_server.make_url("/healthz")) as response:
        assert await response.text() == "ok"
    async with trusting_session.post(
        tls_server.make_url("/http/echo"), data=b"secret", headers={"Content-Type": "x/y"}
    ) as response:
        assert await response.read() == b"secret"


async def test_wss_echo(tls_server, trusting_session) -> None:
    url = tls_server.make_url("/ws/echo").with_scheme("wss")
    async with trusting_session.ws_connect(url) as ws:
        await ws.send_str("over tls")
        assert await ws.receive_str(timeout=5) == "over tls"
        # A page served over https has an https origin: allowed on the server's own port.
        assert ws.get_extra_info("sslcontext") is not None
    origin = f"https://localhost:{tls_server.port}"
    async with trusting_session.ws_connect(url, origin=origin) as ws:
        await ws.send_bytes(b"\x00\x01")
        assert await ws.receive_bytes(timeout=5) == b"\x00\x01"


async def test_sse_over_https(tls_server, trusting_session) -> None:
    url = tls_server.make_url("/sse/stream?count=2&interval=0")
    async with trusting_session.get(url) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        body = await response.read()
    assert body.count(b"event: tick") == 2


async def test_wrong_ca_is_refused(tls_server) -> None:
    stranger = trustme.CA()  # signs nothing the server has
    connector = aiohttp.TCPConnector(ssl=client_context(stranger))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(tls_server.make_url("/healthz"))
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.ws_connect(tls_server.make_url("/ws/echo").with_scheme("wss"))
    async with aiohttp.ClientSession() as plain:
        # No CA at all (the system store) is refused too.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await plain.get(tls_server.make_url("/healthz"))


async def test_plain_http_to_the_tls_port_gets_nothing(tls_server) -> None:
    reader, writer = await asyncio.open_connection(tls_server.host, tls_server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    assert b"ok" not in answer  # the TLS layer rejects the cleartext, nothing is served
    writer.close()
    await writer.wait_closed()


async def test_generated_certificate_is_trusted_through_its_ca(
    start_live_server: LiveServerFactory, tmp_path: Path
) -> None:
    server = await start_live_server(tls=True, cert_dir=tmp_path)
    assert server.running.trust == tmp_path / "ca.pem"
    connector = aiohttp.TCPConnector(ssl=client_context(tmp_path / "ca.pem"))
    async with aiohttp.ClientSession(connector=connector) as session:
        for host in ("127.0.0.1", "localhost"):
            url = f"wss://{host}:{server.port}/ws/echo"
            async with session.ws_connect(url) as ws:
                await ws.send_str(host)
                assert await ws.receive_str(timeout=5) == host


def test_generated_files_are_reused_private_and_ca_cannot_sign_again(tmp_path: Path) -> None:
    first = ensure_local_certificate(tmp_path)
    pems = {path: path.read_bytes() for path in (first.ca, first.cert, first.key)}
    assert ensure_local_certificate(tmp_path) == first
    assert {path: path.read_bytes() for path in pems} == pems  # reused, not remade
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    # Three files and no CA key: the CA signed once and can never sign again.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ca.pem",
        "localhost-key.pem",
        "localhost.pem",
    ]
    ca = x509.load_pem_x509_certificate(pems[first.ca])
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert {str(n.value) for n in constraints.value.permitted_subtrees or []} == {
        "localhost",
        "127.0.0.1/32",
        "::1/128",
    }


def test_certificate_close_to_expiry_is_remade(tmp_path: Path) -> None:
    first = ensure_local_certificate(tmp_path)
    old = first.cert.read_bytes()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=395)
    assert ensure_local_certificate(tmp_path, now=later) == LocalCertificate.in_folder(tmp_path)
    assert first.cert.read_bytes() != old


def test_damaged_files_are_remade(tmp_path: Path) -> None:
    files = ensure_local_certificate(tmp_path)
    files.key.write_text("not a key")
    ensure_local_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)  # a matching pair again


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tls": True, "cert": Path(__file__)}, "--cert and --key go together"),
        ({"cert": Path(__file__), "key": Path(__file__)}, "add --tls"),
        ({"tls": True, "cert": Path("/nonexistent"), "key": Path(__file__)}, "is not a file"),
    ],
)
def test_inconsistent_tls_options_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings(**overrides)


async def test_cli_prints_https_and_how_to_trust(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "server", "--tls", "--port", "0", "--cert-dir", str(tmp_path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        lines = [await asyncio.wait_for(process.stdout.readline(), 20) for _ in range(5)]
        text = b"".join(lines).decode()
        match = re.match(r"Protocol Lab is serving on (https://127\.0\.0\.1:\d+)", text)
        assert match, text
        assert f"--cafile {tmp_path / 'ca.pem'}" in text
        assert f"curl --cacert {tmp_path / 'ca.pem'} {match.group(1)}/healthz" in text
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def test_cli_bad_key_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not pem")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "server", "--tls", "--port", "0", "--cert", str(bad), "--key", str(bad)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert b"Traceback" not in stderr
    assert b"--cert" in stderr


async def test_config_says_tls_but_not_where_the_key_is(tls_server, trusting_session) -> None:
    async with trusting_session.get(tls_server.make_url("/api/config")) as response:
        config = await response.json()
    assert config["tls"] is True
    assert not {"cert", "key", "cert_dir", "static_dir"} & set(config)
    assert config["max_connections_per_ip"] == 256
    assert config["allowed_origins"] == ""
