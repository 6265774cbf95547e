"""MaskCheck: following client frame headers through any split of the byte stream."""

import os
import struct

import pytest

from server.core.frames import MaskCheck


def frame(payload: bytes, *, masked: bool = True, opcode: int = 0x2) -> bytes:
    """One client frame (the mask key is random; its value does not matter here)."""
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, mask_bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, length)
    return header + (os.urandom(4) if masked else b"") + payload


STREAM = b"".join(frame(b"x" * n) for n in (0, 1, 125, 126, 65535, 65536, 70000))


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 14, 4096, len(STREAM)])
def test_masked_frames_pass_however_the_stream_is_cut(chunk: int) -> None:
    check = MaskCheck()
    for start in range(0, len(STREAM), chunk):
        assert check.feed(STREAM[start : start + chunk])
    assert not check.violated


@pytest.mark.parametrize("chunk", [1, 5, 100_000, 1_000_000])
def test_an_unmasked_frame_anywhere_is_caught(chunk: int) -> None:
    # Its payload would look like a masked header if the boundaries were lost: they are not.
    sneaky = frame(b"\x82\xff" * 200, masked=False)
    stream = STREAM + sneaky + frame(b"after")
    check = MaskCheck()
    verdicts = [check.feed(stream[i : i + chunk]) for i in range(0, len(stream), chunk)]
    assert verdicts[-1] is False
    assert check.violated


def test_payload_bytes_that_look_unmasked_are_not_mistaken() -> None:
    check = MaskCheck()
    # A masked frame whose payload is an "unmasked header": skipped by its length.
    assert check.feed(frame(frame(b"hi", masked=False)))


def test_the_verdict_is_sticky() -> None:
    check = MaskCheck()
    assert not check.feed(frame(b"a", masked=False))
    assert not check.feed(frame(b"b"))
