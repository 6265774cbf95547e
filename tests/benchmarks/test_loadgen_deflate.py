"""The browser-like fan-out subscriber (benchmarks/loadgen.py `WsDeflateRoomConn`), fed by hand.

Frames are built the way a permessage-deflate server builds them (RFC 7692 §7.2.1): one raw
deflate stream for the connection, kept across messages (context takeover), each message
sync-flushed and its 4-byte tail stripped, RSV1 set. The subscriber must inflate them in order
and find every publish stamp, whether a read holds one frame, several, or part of one.
"""

import zlib

import pytest

from benchmarks.loadgen import (
    DEFLATE_OFFER,
    DEFLATE_TAIL,
    Deliveries,
    Target,
    WsDeflateRoomConn,
    deflate_accepted,
    ws_upgrade,
)

ACCEPTED = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)
NOT_ACCEPTED = ACCEPTED.replace(b"Sec-WebSocket-Extensions: permessage-deflate\r\n", b"")


def room_message(seq: int, stamp: int) -> bytes:
    """A room message as the server sends it: the stamp sits in its text."""
    return b'{"type":"message","room":"bench","user":"bench","text":"%d:%d","cursor":%d}' % (
        seq,
        stamp,
        seq,
    )


def server_frame(payload: bytes, compressor: "zlib._Compress | None") -> bytes:
    """A final text frame from the server, compressed with `compressor` if one is given."""
    first = 0x81
    if compressor is not None:
        payload = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert payload.endswith(DEFLATE_TAIL)
        payload = payload[: -len(DEFLATE_TAIL)]
        first |= 0x40  # RSV1: this message is compressed
    assert len(payload) < 126
    return bytes((first, len(payload))) + payload


def subscriber(head: bytes) -> tuple[WsDeflateRoomConn, Deliveries]:
    deliveries = Deliveries(subscribers=1)
    deliveries.timing = True
    conn = WsDeflateRoomConn(b"", deliveries)
    conn.data_received(head)
    assert conn.ready.done()
    return conn, deliveries


def two_compressed_frames() -> list[bytes]:
    compressor = zlib.compressobj(wbits=-15)  # one stream for both: context takeover
    frames = [server_frame(room_message(seq, 10**18 + seq), compressor) for seq in (1, 2)]
    # The second message repeats most of the first: it must be smaller, referring back to
    # bytes only an inflater that kept the first message's window can resolve.
    assert len(frames[1]) < len(frames[0])
    return frames


def test_offers_deflate_like_a_browser() -> None:
    request = ws_upgrade(Target("127.0.0.1", 8080, None), "/ws/room/bench", DEFLATE_OFFER)
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in (
        request
    )
    assert request.endswith(b"\r\n\r\n")


async def test_inflates_two_messages_read_one_by_one() -> None:
    conn, deliveries = subscriber(ACCEPTED)
    assert conn.inflater is not None
    first, second = two_compressed_frames()
    done = deliveries.expect(2)
    conn.data_received(first)
    conn.data_received(second)
    assert deliveries.count == {1: 1, 2: 1}
    assert done.done()
    assert len(deliveries.delays_ms) == 2
    assert conn.inflated == 2


@pytest.mark.parametrize("cut", [None, 1, 3, -1], ids=["one-read", "cut-1", "cut-3", "cut-last"])
async def test_inflates_frames_that_share_or_split_reads(cut: int | None) -> None:
    conn, deliveries = subscriber(ACCEPTED)
    both = b"".join(two_compressed_frames())
    reads = [both] if cut is None else [both[:cut], both[cut:]]
    for data in reads:
        conn.data_received(data)
    assert deliveries.count == {1: 1, 2: 1}
    assert conn.inflated == 2


async def test_uncompressed_frames_when_deflate_was_not_accepted() -> None:
    conn, deliveries = subscriber(NOT_ACCEPTED)
    assert conn.inflater is None
    for seq in (1, 2):
        conn.data_received(server_frame(room_message(seq, 10**18), None))
    assert deliveries.count == {1: 1, 2: 1}
    assert conn.inflated == 0


async def test_an_uncompressed_message_after_negotiation_is_read_as_is() -> None:
    """RFC 7692 §6: RSV1 is per message; a sender may leave one uncompressed."""
    conn, deliveries = subscriber(ACCEPTED)
    compressor = zlib.compressobj(wbits=-15)
    conn.data_received(server_frame(room_message(1, 10**18), compressor))
    conn.data_received(server_frame(room_message(2, 10**18), None))
    conn.data_received(server_frame(room_message(3, 10**18), compressor))
    assert deliveries.count == {1: 1, 2: 1, 3: 1}
    assert conn.inflated == 2


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (b"Sec-WebSocket-Extensions: permessage-deflate", True),
        (b"sec-websocket-extensions:permessage-deflate; server_max_window_bits=12", True),
        (b"SEC-WEBSOCKET-EXTENSIONS: PERMESSAGE-DEFLATE; server_no_context_takeover", True),
        (b"Sec-WebSocket-Extensions: x-webkit-deflate-frame", False),
        (b"X-Note: permessage-deflate", False),
        (b"", False),
    ],
)
def test_reads_the_answer_to_the_offer(header: bytes, accepted: bool) -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" + header
    assert deflate_accepted(head.rstrip(b"\r\n")) is accepted
