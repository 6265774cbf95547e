"""Conditions as text: parsing, limits, and the round trip through `spec()`."""

from __future__ import annotations

import pytest

from client.netem.conditions import (
    PRESETS,
    Conditions,
    ConditionsError,
    parse_duration,
    parse_rate,
    parse_size,
    parse_spec,
)


def test_units() -> None:
    assert parse_duration("50ms") == pytest.approx(0.05)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("2m") == 120
    assert parse_duration("60", "s") == 60
    assert parse_rate("1mbit") == 1_000_000
    assert parse_rate("500kbit") == 500_000
    assert parse_size("16KiB") == 16384
    assert parse_size("4096") == 4096


@pytest.mark.parametrize("text", ["fast", "50 parsecs", "-1ms", ""])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ConditionsError, match="duration"):
        parse_duration(text)


def test_spec_round_trip() -> None:
    spec = "delay=50ms,jitter=10ms,rate=1mbit,idle-timeout=2s,buffer=16KiB,strip-upgrade"
    conditions = parse_spec(spec)
    assert conditions == Conditions(
        delay_up_s=0.05,
        delay_down_s=0.05,
        jitter_s=0.01,
        rate_bps=1e6,
        idle_timeout_s=2.0,
        buffer_bytes=16384,
        strip_upgrade=True,
    )
    assert conditions.spec() == spec
    assert parse_spec(conditions.spec()) == conditions
    assert parse_spec("buffer=1000").spec() == "buffer=1000"
    assert parse_spec("delay-up=10ms,delay-down=30ms").spec() == "delay-up=10ms,delay-down=30ms"
    assert Conditions().spec() == "none"


def test_presets_parse_and_none_clears() -> None:
    for name, (spec, _label) in PRESETS.items():
        assert parse_spec(name) == parse_spec(spec)
    assert parse_spec("mobile").rate_bps == 1e6
    assert parse_spec("none", parse_spec("mobile")) == Conditions()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("delay=20s", "delay"),
        ("rate=10bit", "rate"),
        ("colour=blue", "unknown condition"),
        ("delay", "needs a value"),
        ("buffer=1GiB", "size"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ConditionsError, match=message):
        parse_spec(spec)


def test_describe_is_for_people() -> None:
    assert parse_spec("delay=50ms,rate=1mbit").describe() == (
        "delay 50 ms each way, rate 1 Mbit/s each way"
    )
    assert Conditions().describe().startswith("no conditions")
