"""Durations and sizes as users write them: floats in seconds, or strings with units."""

from __future__ import annotations

import math
import re

from chaoskit.errors import ConfigError

__all__ = ["parse_duration", "parse_size"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h)?\s*$")
_DURATION_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2, "mi": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "gi": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4, "ti": 1024**4,
}  # fmt: skip


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Seconds from a number (seconds) or a string such as ``"25ms"``, ``"1.5s"``, ``"200us"``.

    A bare number in a string means seconds here (Python convention); failpoint terms have
    their own rule (bare integers are milliseconds) in the failpoint grammar.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be seconds or a string like '25ms', got {value!r}")
    if isinstance(value, (int, float)):
        if value != value:
            raise ConfigError(f"{what} must be a number of seconds, got {value!r}")
        if value < 0:
            raise ConfigError(f"{what} must not be negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
        raise ConfigError(
            f"{what}: cannot read {value!r} as a duration (use seconds or units us, ms, s, m, h)"
        )
    raise ConfigError(f"{what} must be seconds or a string like '25ms', got {type(value).__name__}")


def parse_size(value: object, *, what: str = "size") -> int:
    """Bytes from an int or a string such as ``"512MB"``, ``"64MiB"``, ``"1g"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be bytes or a string like '512MB', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{what} must not be negative, got {value!r}")
        return value
    if isinstance(value, float) and 0 <= value < math.inf:
        return int(value)
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])
        raise ConfigError(f"{what}: cannot read {value!r} as a size (e.g. 512MB, 64MiB)")
    raise ConfigError(f"{what} must be bytes or a string like '512MB', got {value!r}")
