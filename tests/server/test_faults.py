"""Faulty and hostile peers through real sockets: the server forgets them, bounds what they
cost, and keeps serving everyone else.

Slow request heads (slowloris) and unmasked frames are in test_guard.py; a restart with
clients attached is at the end of this file.
"""

import asyncio
import contextlib
import json
import signal
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import WSMsgType

from client.sse_parser import EventStreamParser
from server import keys
from server.core.cursors import Cursor
from server.core.protocols import WireProtocol
from tests.processes import ServerProcess
from tests.streams import read_events
from tests.waiting import eventually
from tests.wire import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, RawWebSocket


def small_buffer_socket(
    host: str, port: int, local: str = "127.0.0.1", *, small_send: bool = True
) -> socket.socket:
    """A connected TCP socket with small kernel buffers, so that a peer that does not read
    fills them quickly (loopback buffers otherwise grow to megabytes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    if small_send:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    sock.bind((local, 0))
    sock.connect((host, port))
    sock.setblocking(False)
    return sock


async def assert_neighbour_served(session: aiohttp.ClientSession, server) -> None:
    """Someone else, meanwhile, is served normally."""
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        await ws.send_str("neighbour")
        assert await ws.receive_str(timeout=5) == "neighbour"


async def refused(server) -> dict[str, int]:
    return server.app[keys.METRICS].snapshot()["refused"]  # type: ignore[no-any-return]


# -- a client killed mid-message ------------------------------------------------------------


async def test_client_killed_mid_frame_leaves_nothing_behind(server, session) -> None:
    peer = await RawWebSocket.connect(server.host, server.port, "/ws/room/cut")
    message = json.dumps({"user": "u", "text": "never finished"}).encode()
    peer.send_frame(OP_TEXT, message[:10], length=len(message))  # a frame cut short ...
    await peer.writer.drain()
    await peer.close()  # ... and the client is gone
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.open_connections(WireProtocol.WS) == 0)
    assert (await server.app[keys.HUB].since("cut", Cursor(0))).messages == []
    await assert_neighbour_served(session, server)
    async with session.ws_connect(server.make_url("/ws/room/cut")) as ws:
        await ws.send_json({"user": "u", "text": "whole"})
        assert json.loads(await ws.receive_str(timeout=5))["id"] == 1


async def test_client_killed_mid_body_publishes_nothing(server, session) -> None:
    _, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /http/room/cut HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"user": "u", "te'
    )
    await writer.drain()
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.open_connections(WireProtocol.HTTP) == 1)
    writer.close()
    await eventually(lambda: metrics.open_connections(WireProtocol.HTTP) == 0)
    async with session.get(server.make_url("/http/room/cut")) as response:
        assert await response.json() == []


# -- a client that never reads --------------------------------------------------------------


async def test_echo_client_that_never_reads_is_cut_off(start_server, session) -> None:
    server = await start_server(ws_send_timeout=0.5)
    sock = small_buffer_socket(server.host, server.port)
    peer = await RawWebSocket.connect(server.host, server.port, "/ws/echo", sock=sock)
    chunk = b"y" * 65536
    started = time.monotonic()
    sent = 0

    async def send_and_never_read() -> None:
        nonlocal sent
        async with asyncio.timeout(10):
            while True:
                peer.send_frame(OP_BINARY, chunk)
                await peer.writer.drain()
                sent += 1

    with pytest.raises(ConnectionError):  # the server cuts it: a reset, not a hang
        await send_and_never_read()
    assert time.monotonic() - started < 5
    metrics = server.app[keys.METRICS]
    # The server stopped reading once its echoes could not be written (TCP flow control):
    # it took in a bounded number of messages, far fewer than were offered.
    received = metrics.snapshot()["protocols"]["ws"]["messages_in"]
    assert received <= sent
    assert received * len(chunk) < 32 * 1024 * 1024
    await eventually(lambda: metrics.open_connections(WireProtocol.WS) == 0)
    assert await refused(server) == {"send_timeout": 1}
    await assert_neighbour_served(session, server)
    await peer.close()


@pytest.mark.parametrize(
    ("path", "protocol"),
    [
        ("/sse/stream?interval=0&size=65536", WireProtocol.SSE),
        ("/ws/stream?interval=0&size=65536", WireProtocol.WS),
    ],
)
async def test_stream_reader_that_never_reads_is_cut_off(
    start_server, session, path: str, protocol: WireProtocol
) -> None:
    server = await start_server(ws_send_timeout=0.5, sse_send_timeout=0.5)
    sock = small_buffer_socket(server.host, server.port)
    if protocol is WireProtocol.WS:
        peer = await RawWebSocket.connect(server.host, server.port, path, sock=sock)
        reader, writer = peer.reader, peer.writer
    else:
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.open_connections(protocol) == 1)
    # ... and then it reads nothing at all, until the server gives up on it.
    await eventually(lambda: metrics.open_connections(protocol) == 0, limit_s=10)
    assert await refused(server) == {"send_timeout": 1}
    sent = metrics.snapshot()["protocols"][protocol.value]["messages_out"]
    assert sent * 65536 < 32 * 1024 * 1024  # what the buffers took, not an endless stream
    await assert_neighbour_served(session, server)
    writer.close()
    del reader


async def test_http_client_that_never_reads_its_response_is_cut_off(start_server, session) -> None:
    server = await start_server(http_send_timeout=0.5)
    sock = small_buffer_socket(server.host, server.port, small_send=False)
    reader, writer = await asyncio.open_connection(sock=sock)
    body = b"z" * (8 * 1024 * 1024)  # more than the kernel buffers on both sides hold
    head = f"POST /http/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()  # the server takes the whole body; its echo is what gets stuck
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.snapshot()["refused"] == {"send_timeout": 1}, limit_s=10)
    # Now read: what the kernel had taken arrives, then the end; the echo was cut short.
    received = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
            received += len(chunk)
    assert received < len(body)
    writer.close()
    await assert_neighbour_served(session, server)


async def test_slow_upload_gets_408(start_server, session) -> None:
    server = await start_server(body_timeout=0.3)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    started = time.monotonic()
    writer.write(  # 100 bytes announced, 14 sent, and then nothing
        b"POST /http/room/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"user": "u", '
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 408")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    error = json.loads(await reader.readexactly(length))["error"]
    assert error == "request body not received within 0.3 s"
    assert 0.3 <= time.monotonic() - started < 2
    writer.close()
    assert await refused(server) == {"body_timeout": 1}
    async with session.get(server.make_url("/http/room/slow")) as response:
        assert await response.json() == []


# -- a half-open connection -----------------------------------------------------------------


async def test_half_open_peer_is_forgotten_within_the_heartbeat(start_server, session) -> None:
    heartbeat = 0.3
    server = await start_server(ws_heartbeat=heartbeat)
    # A peer whose network vanished: it neither reads nor writes, so it answers no ping.
    peer = await RawWebSocket.connect(server.host, server.port, "/ws/echo")
    started = time.monotonic()
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.open_connections(WireProtocol.WS) == 1)
    await eventually(lambda: metrics.open_connections(WireProtocol.WS) == 0, limit_s=5)
    # A ping after `heartbeat` s of silence, then half as long for the pong.
    assert time.monotonic() - started < heartbeat * 1.5 + 0.5
    assert len(server.app[keys.LIVE_CONNECTIONS]) == 0
    frame = await peer.read_frame()
    assert frame.opcode == OP_PING  # what it would have had to answer
    await peer.close()
    await assert_neighbour_served(session, server)


# -- malformed frames and invalid UTF-8 -----------------------------------------------------


def unfinished_text_then(
    first: bytes, opcode: int, second: bytes
) -> Callable[[RawWebSocket], None]:
    """Send the first fragment of a text message, then a frame with `opcode`."""

    def send(peer: RawWebSocket) -> None:
        peer.send_frame(OP_TEXT, first, fin=False)
        peer.send_frame(opcode, second)

    return send


# Each case: what a broken peer sends, and the close code the server must answer with.
MALFORMED: dict[str, tuple[Callable[[RawWebSocket], object], int]] = {
    "reserved bits without an extension": (lambda p: p.send_frame(OP_TEXT, b"hi", rsv=4), 1002),
    "unknown opcode": (lambda p: p.send_frame(0x3, b"hi"), 1002),
    "fragmented ping": (lambda p: p.send_frame(OP_PING, b"hi", fin=False), 1002),
    "ping over 125 bytes": (lambda p: p.send_frame(OP_PING, b"x" * 126), 1002),
    "continuation without a start": (lambda p: p.send_frame(0x0, b"hi"), 1002),
    "new message inside a fragmented one": (
        unfinished_text_then(b"a", OP_TEXT, b"b"),
        1002,
    ),
    "close with a one-byte body": (lambda p: p.send_frame(OP_CLOSE, b"\x03"), 1002),
    "invalid UTF-8 text": (lambda p: p.send_frame(OP_TEXT, b"\xff\xfe"), 1007),
    "UTF-8 broken across fragments": (
        unfinished_text_then(b"\xce", 0x0, b"x"),
        1007,
    ),
    "UTF-16 surrogate in text": (lambda p: p.send_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    "invalid UTF-8 close reason": (
        lambda p: p.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"),
        1007,
    ),
    "length of 2**62 bytes": (lambda p: p.send_frame(OP_BINARY, b"", length=2**62), 1009),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_input_is_closed_with_the_right_code(server, session, case) -> None:
    send, code = MALFORMED[case]
    async with session.ws_connect(server.make_url("/ws/echo")) as neighbour:
        peer = await RawWebSocket.connect(server.host, server.port, "/ws/echo")
        send(peer)
        frame = await peer.read_frame()
        assert (frame.opcode, frame.close_code) == (OP_CLOSE, code)
        await peer.close()
        await neighbour.send_str("fine")
        assert await neighbour.receive_str(timeout=5) == "fine"
    metrics = server.app[keys.METRICS]
    await eventually(lambda: metrics.open_connections(WireProtocol.WS) == 0)
    reason = {1002: "ws_protocol_error", 1007: "ws_invalid_data", 1009: "ws_message_too_big"}
    assert await refused(server) == {reason[code]: 1}


# -- a flood of connections -----------------------------------------------------------------


async def test_connection_flood_from_one_address_spares_the_others(
    start_live_server, session
) -> None:
    server = await start_live_server(max_connections_per_ip=20, header_timeout=1)
    flood_local = ("127.0.0.2", 0)
    # 300 sockets that never send a request, and 40 WebSockets, all from 127.0.0.2.
    idle = [
        await asyncio.open_connection(server.host, server.port, local_addr=flood_local)
        for _ in range(300)
    ]
    connector = aiohttp.TCPConnector(limit=0, local_addr=flood_local)
    async with aiohttp.ClientSession(connector=connector) as flood:
        sockets = await asyncio.gather(
            *(flood.ws_connect(server.make_url("/ws/echo")) for _ in range(40))
        )
        metrics = server.app[keys.METRICS]
        # Only this key: on a loaded machine the idle sockets' head deadline (1 s) may
        # already have counted some `header_timeout`s.
        await eventually(lambda: metrics.snapshot()["refused"].get("max_connections_per_ip") == 20)
        assert server.app[keys.LIVE_CONNECTIONS].from_peer("127.0.0.2") == 20
        await assert_neighbour_served(session, server)  # 127.0.0.1, during the flood
        await asyncio.gather(*(ws.close() for ws in sockets))
    # The idle sockets are cut by the head deadline: each sees the end of its stream.
    ends = await asyncio.gather(*(asyncio.wait_for(r.read(), 5) for r, _ in idle))
    assert ends == [b""] * 300
    for _, writer in idle:
        writer.close()
    assert (await refused(server))["header_timeout"] == 300


async def test_shutdown_is_not_held_up_by_a_peer_that_never_reads(start_live_server) -> None:
    # No send timeout: the push is stuck on the full buffers when the server stops.
    server = await start_live_server(ws_send_timeout=0, shutdown_timeout=0.5)
    sock = small_buffer_socket(server.host, server.port)
    peer = await RawWebSocket.connect(
        server.host, server.port, "/ws/stream?interval=0&size=65536", sock=sock
    )
    live = server.app[keys.LIVE_CONNECTIONS]
    await eventually(lambda: live.backlog_bytes() > 0)  # the kernel takes no more: stuck
    started = time.monotonic()
    await asyncio.wait_for(server.running.runner.cleanup(), 5)  # what Ctrl-C does
    assert time.monotonic() - started < 3
    await peer.close()


async def test_refused_upgrades_that_never_answer_are_let_go(start_server, session) -> None:
    server = await start_server(max_connections=1)
    async with session.ws_connect(server.make_url("/ws/echo")):
        peers = [
            await RawWebSocket.connect(server.host, server.port, "/ws/echo") for _ in range(20)
        ]
        started = time.monotonic()
        for peer in peers:  # each is told 1013, and never answers the Close
            frame = await peer.read_frame()
            assert (frame.opcode, frame.close_code) == (OP_CLOSE, 1013)
        ends = await asyncio.gather(*(peer.read_until_closed() for peer in peers))
        assert ends == [b""] * 20  # then the server hangs up on each
        assert time.monotonic() - started < 4
        for peer in peers:
            await peer.close()
    assert await refused(server) == {"max_connections": 20}


# -- the server stops with clients attached, and comes back ---------------------------------


async def start_process(port: int = 0) -> tuple[asyncio.subprocess.Process, str]:
    server = ServerProcess(port)
    await server.start()
    assert server.process is not None
    return server.process, server.url


@pytest.fixture
async def processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_restart_with_clients_attached_loses_nothing_sse_can_resume(
    processes, session
) -> None:
    process, url = await start_process()
    processes.append(process)
    port = int(url.rsplit(":", 1)[1])
    ws = await session.ws_connect(f"{url}/ws/room/lab")
    ticks = await session.get(f"{url}/sse/stream?count=1000&interval=20")
    room = await session.get(f"{url}/sse/room/lab")
    await room.content.readuntil(b"\r\n\r\n")  # subscribed
    for text in ("one", "two", "three"):
        await ws.send_json({"user": "u", "text": text})
        assert json.loads(await ws.receive_str(timeout=5))["text"] == text
    tick_parser, room_parser = EventStreamParser(), EventStreamParser()
    seen_ticks = []  # at least 5, and every event of the chunks read: none may be dropped
    async for chunk in ticks.content.iter_any():
        seen_ticks += tick_parser.feed(chunk)
        if len(seen_ticks) >= 5:
            break
    seen_room = await read_events(room, room_parser, limit=3)

    process.send_signal(signal.SIGTERM)
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 1001, "server shutting down")
    seen_ticks += await asyncio.wait_for(read_events(ticks, tick_parser), 5)  # the stream ends
    # The room stream ends cleanly (a truncated chunked body would raise) with nothing more.
    assert await asyncio.wait_for(read_events(room, room_parser), 5) == []
    assert await asyncio.wait_for(process.wait(), 5) == 0
    await ws.close()
    ticks.close()
    room.close()

    process, _ = await start_process(port)  # the same port: clients reconnect to it
    processes.append(process)
    last_tick = seen_ticks[-1].last_event_id
    async with session.get(
        f"{url}/sse/stream?count=1000&interval=20", headers={"Last-Event-ID": last_tick}
    ) as resumed:
        more = await read_events(resumed, EventStreamParser(), limit=3)
    seqs = [json.loads(e.data)["seq"] for e in seen_ticks + more]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate across the restart

    # Rooms live in memory: the new process starts them in a new epoch, numbered from 1
    # again. A cursor from the old life is told `reset`, then gets the new life's messages.
    assert seen_room[-1].last_event_id.endswith("-3")
    async with session.post(
        f"{url}/http/room/lab", json={"user": "u", "text": "after"}
    ) as response:
        assert (await response.json())["id"] == 1
    async with session.get(
        f"{url}/sse/room/lab", headers={"Last-Event-ID": seen_room[-1].last_event_id}
    ) as resumed:
        after = await read_events(resumed, EventStreamParser(), limit=2)
    assert [e.type for e in after] == ["reset", "message"]
    assert json.loads(after[1].data)["text"] == "after"
