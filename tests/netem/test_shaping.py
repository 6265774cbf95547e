"""Delay line clock, token bucket and buffer: the arithmetic of the conditions."""

from __future__ import annotations

import random

from client.netem.shaping import Buffer, DelayClock, TokenBucket


def test_jitter_never_reorders_nor_undercuts_the_delay() -> None:
    clock = DelayClock(random.Random(7))
    releases = [clock.release_at(t * 0.001, 0.05, 0.03) for t in range(200)]
    assert releases == sorted(releases)
    assert all(r >= t * 0.001 + 0.05 for t, r in enumerate(releases))


def test_token_bucket_paces_at_the_rate() -> None:
    bucket, rate = TokenBucket(), 1_000_000.0  # 125,000 bytes/s
    burst, now, sent = TokenBucket.burst(rate), 0.0, 0
    while sent < 250_000:
        now += bucket.wait_s(burst, rate, now)
        sent += burst
    # One burst free at the start, the rest at 125 kB/s.
    assert abs(now - (sent - burst) / 125_000) < 1e-6


def test_buffer_holds_until_limit_or_end() -> None:
    buffer = Buffer()
    assert buffer.add(b"a" * 10, 16, response_ended=False) == b""
    assert buffer.add(b"b" * 10, 16, response_ended=False) == b"a" * 10 + b"b" * 10
    assert buffer.add(b"c", None, response_ended=False) == b""
    assert buffer.add(b"d", None, response_ended=True) == b"cd"
    assert buffer.releases == 2
