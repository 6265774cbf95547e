"""Network conditions: what the shaping proxy does to the bytes it carries. Pure, no I/O.

One `Conditions` value describes both directions. Text forms, parsed here once:

* durations ``50ms``, ``1.5s``, ``2m`` (a bare number is in the option's default unit);
* rates in bits per second, decimal as in networking: ``1mbit`` = 1,000,000 bit/s, ``500kbit``;
* sizes ``16KiB``, ``1MiB``, ``4096`` (bytes);
* a spec, for ``bench --netem`` and the control endpoint: ``delay=50ms,rate=1mbit,strip-upgrade``.

Jitter adds a random 0..J to each chunk's delay (never less than the delay itself, so a
measured round trip is never below 2 x delay).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_BUFFER",
    "PRESETS",
    "Conditions",
    "ConditionsError",
    "format_bytes",
    "format_duration",
    "format_rate",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "parse_spec",
]

MAX_DELAY_S = 10.0
MAX_IDLE_S = 3600.0
MAX_BUFFER = 16 * 1024 * 1024
MIN_RATE = 8_000.0  # 1 kB/s: slower would make every page load a test of patience
MAX_RATE = 100e9

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^{_NUMBER}\s*(ms|s|m|us)?$", re.IGNORECASE)
_RATE = re.compile(rf"^{_NUMBER}\s*(bit|kbit|mbit|gbit)(?:/s|ps)?$", re.IGNORECASE)
_SIZE = re.compile(rf"^{_NUMBER}\s*(b|k|kb|kib|m|mb|mib)?$", re.IGNORECASE)
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_BITS = {"bit": 1.0, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
_BYTES = {"b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2}


class ConditionsError(ValueError):
    """A condition could not be understood; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the proxy does to each direction (up: client to server, down: server to client).

    Times are in seconds, `rate_bps` in bits per second (None: unlimited), sizes in bytes.
    """

    delay_up_s: float = 0.0
    delay_down_s: float = 0.0
    jitter_s: float = 0.0
    rate_bps: float | None = None
    idle_timeout_s: float | None = None
    buffer_bytes: int | None = None
    buffer_until_close: bool = False
    strip_upgrade: bool = False

    def __post_init__(self) -> None:
        for name in ("delay_up_s", "delay_down_s", "jitter_s"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_DELAY_S:
                raise ConditionsError(f"{_label(name)} must be 0-{MAX_DELAY_S:g} s, got {value}")
        if self.rate_bps is not None and not MIN_RATE <= self.rate_bps <= MAX_RATE:
            raise ConditionsError(
                f"rate must be at least {format_rate(MIN_RATE)}, got {format_rate(self.rate_bps)}"
            )
        if self.idle_timeout_s is not None and not 0 < self.idle_timeout_s <= MAX_IDLE_S:
            raise ConditionsError(f"idle-timeout must be 0-{MAX_IDLE_S:g} s")
        if self.buffer_bytes is not None and not 1 <= self.buffer_bytes <= MAX_BUFFER:
            raise ConditionsError(f"buffer must be 1 B to {format_bytes(MAX_BUFFER)}")

    @property
    def delay_s(self) -> float:
        """The mean one-way delay over both directions, jitter included (for predictions)."""
        return (self.delay_up_s + self.delay_down_s) / 2 + self.jitter_s / 2

    @property
    def buffering(self) -> bool:
        """True if server-to-client bytes are held back (by size or until a response ends)."""
        return self.buffer_until_close or self.buffer_bytes is not None

    def spec(self) -> str:
        """The compact text form, e.g. ``delay=50ms,rate=1mbit`` (``none`` for no condition);
        `parse_spec` reads it back."""
        parts: list[str] = []
        if self.delay_up_s == self.delay_down_s:
            if self.delay_up_s:
                parts.append(f"delay={format_duration(self.delay_up_s)}")
        else:
            parts.append(f"delay-up={format_duration(self.delay_up_s)}")
            parts.append(f"delay-down={format_duration(self.delay_down_s)}")
        if self.jitter_s:
            parts.append(f"jitter={format_duration(self.jitter_s)}")
        if self.rate_bps is not None:
            parts.append(f"rate={_rate_token(self.rate_bps)}")
        if self.idle_timeout_s is not None:
            parts.append(f"idle-timeout={format_duration(self.idle_timeout_s)}")
        if self.buffer_bytes is not None:
            size = self.buffer_bytes
            parts.append(f"buffer={size // 1024}KiB" if size % 1024 == 0 else f"buffer={size}")
        if self.buffer_until_close:
            parts.append("buffer-until-close")
        if self.strip_upgrade:
            parts.append("strip-upgrade")
        return ",".join(parts) or "none"

    def describe(self) -> str:
        """For people: ``delay 50 ms each way, rate 1 Mbit/s`` or ``no conditions``."""
        parts: list[str] = []
        if self.delay_up_s == self.delay_down_s:
            if self.delay_up_s:
                parts.append(f"delay {format_duration(self.delay_up_s, ' ')} each way")
        else:
            up, down = (format_duration(v, " ") for v in (self.delay_up_s, self.delay_down_s))
            parts.append(f"delay {up} up, {down} down")
        if self.jitter_s:
            parts.append(f"jitter +0..{format_duration(self.jitter_s, ' ')}")
        if self.rate_bps is not None:
            parts.append(f"rate {format_rate(self.rate_bps)} each way")
        if self.idle_timeout_s is not None:
            parts.append(f"idle timeout {format_duration(self.idle_timeout_s, ' ')}")
        if self.buffer_bytes is not None:
            parts.append(f"buffer {format_bytes(self.buffer_bytes)} down")
        if self.buffer_until_close:
            parts.append("buffer down until each response ends")
        if self.strip_upgrade:
            parts.append("Upgrade stripped")
        return ", ".join(parts) or "no conditions (straight through)"

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of `/_netem` (milliseconds and bytes, as the page shows them)."""
        return {
            "spec": self.spec(),
            "description": self.describe(),
            "delay_up_ms": _ms(self.delay_up_s),
            "delay_down_ms": _ms(self.delay_down_s),
            "jitter_ms": _ms(self.jitter_s),
            "rate_bps": self.rate_bps,
            "idle_timeout_s": self.idle_timeout_s,
            "buffer_bytes": self.buffer_bytes,
            "buffer_until_close": self.buffer_until_close,
            "strip_upgrade": self.strip_upgrade,
        }


# Round trips of the real links the page offers; the proxy delays each way by half.
PRESETS: dict[str, tuple[str, str]] = {
    "loopback": ("none", "this machine, no conditions"),
    "lan": ("delay=1ms", "LAN: RTT 2 ms"),
    "broadband": ("delay=15ms,jitter=2ms", "broadband: RTT 30 ms"),
    "mobile": ("delay=75ms,jitter=10ms,rate=1mbit", "mobile: RTT 150 ms, 1 Mbit/s"),
    "satellite": ("delay=300ms,rate=10mbit", "satellite: RTT 600 ms, 10 Mbit/s"),
}


def parse_spec(text: str, base: Conditions | None = None) -> Conditions:
    """``delay=50ms,rate=1mbit,strip-upgrade`` (or a preset name) as `Conditions`.

    Items given replace those of `base` (default: no conditions); ``none`` clears them all.
    """
    text = text.strip()
    if text.lower() in PRESETS:
        text = PRESETS[text.lower()][0]
    changes: dict[str, Any] = {}
    current = base or Conditions()
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower().replace("_", "-")
        if name == "none" and not sep:
            current, changes = Conditions(), {}
            continue
        changes.update(_spec_item(name, value.strip(), has_value=bool(sep)))
    try:
        return dataclasses.replace(current, **changes)
    except ConditionsError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConditionsError(str(exc)) from None


def _spec_item(name: str, value: str, *, has_value: bool) -> dict[str, Any]:
    flags = {"buffer-until-close": "buffer_until_close", "strip-upgrade": "strip_upgrade"}
    if name in flags:
        on = not has_value or value.lower() in ("1", "true", "yes", "on")
        return {flags[name]: on}
    if not has_value:
        raise ConditionsError(f"{name!r} needs a value ({name}=...)")
    off = value.lower() in ("0", "off", "none", "")
    if name == "delay":
        seconds = parse_duration(value, "ms")
        return {"delay_up_s": seconds, "delay_down_s": seconds}
    if name in ("delay-up", "delay-down", "jitter"):
        return {name.replace("-", "_") + "_s": parse_duration(value, "ms")}
    if name == "rate":
        return {"rate_bps": None if off else parse_rate(value)}
    if name == "idle-timeout":
        return {"idle_timeout_s": None if off else parse_duration(value, "s")}
    if name == "buffer":
        return {"buffer_bytes": None if off else parse_size(value)}
    known = "delay, delay-up, delay-down, jitter, rate, idle-timeout, buffer"
    raise ConditionsError(
        f"unknown condition {name!r}: use {known}, buffer-until-close, strip-upgrade, "
        f"or a preset ({', '.join(PRESETS)})"
    )


def parse_duration(text: str, default_unit: str = "ms") -> float:
    """``50ms``, ``1.5s``, ``2m`` in seconds; a bare number is in `default_unit`."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise ConditionsError(f"expected a duration such as 50ms or 2s, got {text!r}")
    return float(found[1]) * _SECONDS[(found[2] or default_unit).lower()]


def parse_rate(text: str) -> float:
    """``1mbit``, ``500kbit`` in bits per second."""
    found = _RATE.match(text.strip())
    if found is None:
        raise ConditionsError(f"expected a rate such as 1mbit or 500kbit, got {text!r}")
    return float(found[1]) * _BITS[found[2].lower()]


def parse_size(text: str) -> int:
    """``16KiB``, ``1MiB``, ``4096`` in bytes."""
    found = _SIZE.match(text.strip())
    if found is None:
        raise ConditionsError(f"expected a size such as 16KiB or 4096, got {text!r}")
    return math.ceil(float(found[1]) * _BYTES[(found[2] or "b").lower()])


def format_duration(seconds: float, space: str = "") -> str:
    """``50ms``, ``1.5s`` (with `space` between number and unit)."""
    if seconds < 1:
        return f"{seconds * 1000:g}{space}ms"
    return f"{seconds:g}{space}s"


def format_rate(bps: float) -> str:
    """``1 Mbit/s``."""
    for unit, size in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= size:
            return f"{bps / size:g} {unit}"
    return f"{bps:g} bit/s"


def format_bytes(size: int) -> str:
    """``16 KiB``."""
    for unit, scale in (("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def _rate_token(bps: float) -> str:
    for unit, size in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bps >= size:
            return f"{bps / size:g}{unit}"
    return f"{bps:g}bit"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _label(field_name: str) -> str:
    return field_name.removesuffix("_s").replace("_", "-")
