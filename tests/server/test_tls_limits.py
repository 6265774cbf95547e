"""Over TLS the bounds hold as they do in clear: a client that does not read its response is
cut after `--http-send-timeout`, though TLS buffers everything it has encrypted."""

import asyncio
import contextlib
import io
import socket
import ssl
from pathlib import Path

import aiohttp

from server import keys
from tests.server.conftest import LiveServerFactory
from tests.waiting import eventually


async def test_tls_client_that_never_reads_its_response_is_cut_off(
    start_live_server: LiveServerFactory, tmp_path: Path
) -> None:
    server = await start_live_server(tls=True, cert_dir=tmp_path, http_send_timeout=0.5)
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # fills quickly
    sock.connect((server.host, server.port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(
        sock=sock, ssl=context, server_hostname="localhost"
    )
    body = b"z" * (6 * 1024 * 1024)
    head = f"POST /http/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()  # the server takes the whole body; its echo is what gets stuck
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.snapshot()["refused"] == {"send_timeout": 1}, limit_s=15)
    received = 0
    with contextlib.suppress(ConnectionResetError, ssl.SSLError):
        while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
            received += len(chunk)
    assert received < len(body)  # the echo was cut short
    writer.close()


async def test_big_echo_arrives_whole_in_clear_and_over_tls(
    start_live_server: LiveServerFactory, tmp_path: Path
) -> None:
    # Bodies over 64 KiB are written in pieces (server/edge/middlewares.py): same bytes.
    body = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit, not a multiple of a piece
    clear = await start_live_server()
    secure = await start_live_server(tls=True, cert_dir=tmp_path)
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:
        for url in (clear.make_url("/http/echo"), f"https://localhost:{secure.port}/http/echo"):
            headers = {"Content-Type": "application/x-test"}
            async with session.post(url, data=io.BytesIO(body), headers=headers) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "application/x-test"
                assert resp.headers["Content-Length"] == str(len(body))
                assert "X-Request-Head-Bytes" in resp.headers
                assert await resp.read() == body
