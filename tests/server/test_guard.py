"""The connection guards of the real runner (server/edge/protocol.py): slow request heads
(slowloris) get 408 and are cut, and an unmasked client frame gets 1002."""

import asyncio
import contextlib
import json
import time

import trustme

from server import keys
from server.core.protocols import WireProtocol
from tests.server.conftest import LiveServer
from tests.waiting import eventually
from tests.wire import OP_BINARY, OP_CLOSE, OP_TEXT, RawWebSocket


async def dribble(writer: asyncio.StreamWriter, data: bytes, every_s: float) -> None:
    """Send `data` one byte at a time: the slowloris attack itself (the pause is the attack's
    pace, not a wait for the server)."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every_s)


async def refused(server: LiveServer) -> dict[str, int]:
    snapshot = server.app[keys.METRICS].snapshot()
    return snapshot["refused"]  # type: ignore[return-value]


async def test_slow_headers_get_408_while_others_are_served(start_live_server, session) -> None:
    server = await start_live_server(header_timeout=0.5)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    started = time.monotonic()
    slow = asyncio.create_task(
        dribble(writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 0.1)
    )
    async with session.get(server.make_url("/healthz")) as response:  # meanwhile
        assert await response.text() == "ok"
    answer = await asyncio.wait_for(reader.read(), 5)  # up to the server closing
    elapsed = time.monotonic() - started
    slow.cancel()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b'{"error": "request head not received within 0.5 s"}' in answer
    assert 0.5 <= elapsed < 2
    assert await refused(server) == {"header_timeout": 1}


async def test_silent_connection_is_closed_without_an_answer(start_live_server) -> None:
    server = await start_live_server(header_timeout=0.3)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_second_request_on_a_keepalive_connection_has_its_own_deadline(
    start_live_server,
) -> None:
    server = await start_live_server(header_timeout=0.4)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    await reader.readexactly(2)  # "ok"
    slow = asyncio.create_task(dribble(writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 0.1))
    answer = await asyncio.wait_for(reader.read(), 5)
    slow.cancel()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_requests_being_handled_have_no_deadline(start_live_server, session) -> None:
    server = await start_live_server(header_timeout=0.2)
    started = time.monotonic()
    async with session.get(server.make_url("/http/room/calm?since=0&wait=0.6")) as response:
        assert (response.status, await response.json()) == (200, [])
    assert time.monotonic() - started >= 0.6
    async with session.ws_connect(server.make_url("/ws/stream?count=3&interval=200")) as ws:
        ticks = [await ws.receive_str(timeout=5) for _ in range(3)]  # 0.4 s and more
    assert len(ticks) == 3
    assert await refused(server) == {}


async def test_tls_handshake_that_never_starts_is_cut(start_live_server, tmp_path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    issued.cert_chain_pems[0].write_to_path(cert)
    issued.private_key_pem.write_to_path(key)
    server = await start_live_server(tls=True, cert=cert, key=key, header_timeout=0.3)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert time.monotonic() - started < 2
    writer.close()


async def test_unmasked_frame_gets_1002_and_spares_others(start_live_server, session) -> None:
    server = await start_live_server()
    async with session.ws_connect(server.make_url("/ws/echo")) as neighbour:
        peer = await RawWebSocket.connect(server.host, server.port, "/ws/echo")
        peer.send_frame(OP_BINARY, b"x" * 70000)  # masked: fine, and echoed
        assert (await peer.read_frame()).payload == b"x" * 70000
        peer.send_frame(OP_TEXT, b"naked", masked=False)
        frame = await peer.read_frame()
        assert (frame.opcode, frame.close_code, frame.payload[2:]) == (
            OP_CLOSE,
            1002,
            b"unmasked frame",
        )
        assert await peer.read_until_closed() == b""
        await peer.close()
        await neighbour.send_str("unaffected")
        assert await neighbour.receive_str(timeout=5) == "unaffected"
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.open_connections(WireProtocol.WS) == 0)
    assert await refused(server) == {"ws_protocol_error": 1}


async def test_refused_upgrade_leaves_the_connection_speaking_http(start_live_server) -> None:
    server = await start_live_server()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 99\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 400")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    # The next request on the same connection is HTTP, not a frame ("GE" would be unmasked).
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(2) == b"ok"
    writer.close()


async def test_real_clients_are_not_mistaken_for_unmasked(start_live_server, session) -> None:
    server = await start_live_server()
    # Every length encoding (7-bit, 16-bit, 64-bit), compressed and not.
    for compress in (0, 15):
        async with session.ws_connect(server.make_url("/ws/echo"), compress=compress) as ws:
            for size in (0, 125, 126, 65535, 65536, 200_000):
                await ws.send_bytes(b"z" * size)
                assert len(await ws.receive_bytes(timeout=5)) == size
    assert await refused(server) == {}


async def exchange(server: LiveServer, request: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes; the head and body of the answer, read up to the server closing."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


async def test_unparsable_requests_get_a_json_400_and_no_traceback(
    start_live_server, session, caplog
) -> None:
    server = await start_live_server()
    cases = {
        b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n": "malformed request: Invalid method",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n": (
            "malformed request: a request line or header is longer than 8190 bytes"
        ),
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03": "malformed request: Received HTTPS",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n": "malformed request",
    }
    for request, error in cases.items():
        head, body = await exchange(server, request)
        assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request"), request
        assert b"Content-Type: application/json" in head, request
        message = json.loads(body)["error"]
        assert message.startswith(error), request
        assert "aaaa" not in message  # the client's bytes are not echoed back
    assert await refused(server) == {"bad_request": len(cases)}
    async with session.get(server.make_url("/healthz")) as response:
        assert await response.text() == "ok"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_undecodable_body_and_unknown_expect_get_json(start_live_server, caplog) -> None:
    server = await start_live_server()
    head, body = await exchange(
        server,
        b"POST /http/echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: 7\r\nConnection: close\r\n\r\nnotgzip",
    )
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body) == {
        "error": "request body could not be read: Can not decode content-encoding: gzip"
    }
    head, body = await exchange(
        server,
        b"POST /http/echo HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    assert head.startswith(b"HTTP/1.1 417 ")
    assert json.loads(body) == {"error": "Unknown Expect: 200-ok"}
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
