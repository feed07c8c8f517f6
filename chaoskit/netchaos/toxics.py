"""Toxic definitions: types, attribute schemas, lenient decoding and JSON form.

A :class:`Toxic` is the frozen description the API stores (name, type, stream, toxicity,
attributes). What a toxic *does* to a connection lives in :mod:`chaoskit.netchaos.stages`;
this module only knows which types exist, what their attributes are and which values are
rejected. Decoding follows Toxiproxy's (Go's) leniency: keys match case-insensitively,
unknown keys are ignored, ``null`` keeps the default and ``100.0`` is a valid integer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "CONNECT_TYPES",
    "STREAMS",
    "TOXIC_TYPES",
    "ApiError",
    "Toxic",
    "decode_toxic",
    "lower_keys",
    "update_toxic",
]

STREAMS = ("upstream", "downstream")

# type -> {attribute: default}; every attribute is an integer unless listed in _FLOATS.
TOXIC_TYPES: dict[str, dict[str, int | float]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
    "reset_peer": {"timeout": 0},
    "noop": {},
    # beyond Toxiproxy
    "slow_open": {"delay": 0},
    "refuse": {"reset": 0},
    "drop": {"delay": 0, "reset": 0},
    "http_error": {"status": 503, "first": 0, "probability": 0.0},
}

_FLOATS = frozenset({("http_error", "probability")})

# Types that act when a connection is accepted rather than on its data.
CONNECT_TYPES = frozenset({"slow_open", "refuse"})


class ApiError(Exception):
    """An API error: HTTP ``status`` and Toxiproxy's message text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def lower_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """Go's case-insensitive key matching: the first spelling of each key wins."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.setdefault(str(key).lower(), value)
    return out


@dataclass(frozen=True, slots=True)
class Toxic:
    """One toxic as the API stores it."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, int | float] = field(default_factory=dict)

    def attr(self, key: str) -> int | float:
        return self.attributes.get(key, TOXIC_TYPES[self.type].get(key, 0))

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


def _bad(message: str) -> ApiError:
    return ApiError(400, f"bad request body: {message}")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"cannot unmarshal {type(value).__name__} into field {what} of type number")
    if not math.isfinite(value):
        raise _bad(f"invalid number for field {what}")
    return float(value)


def _attributes(kind: str, raw: Any, current: Mapping[str, int | float]) -> dict[str, int | float]:
    schema = TOXIC_TYPES[kind]
    attrs: dict[str, int | float] = {k: current.get(k, v) for k, v in schema.items()}
    if raw is not None and not isinstance(raw, Mapping):
        raise _bad("cannot unmarshal attributes: expected an object")
    for key, value in lower_keys(raw or {}).items():
        if key not in schema or value is None:
            continue
        number = _number(value, f"attributes.{key}")
        if (kind, key) in _FLOATS:
            attrs[key] = number
        else:
            attrs[key] = round(number)
    _check(kind, attrs)  # also without attributes: a bandwidth's default rate 0 is invalid
    return attrs


def _check(kind: str, attrs: Mapping[str, int | float]) -> None:
    """Reject values that make Toxiproxy hang or panic."""

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ApiError(400, message)

    for key, value in attrs.items():
        if kind != "http_error" or key != "probability":
            need(value >= 0, f"{kind} attribute {key} must not be negative, got {value}")
    if kind == "bandwidth":
        need(attrs["rate"] > 0, f"bandwidth rate must be > 0 KB/s, got {attrs['rate']}")
    elif kind == "slicer":
        need(
            attrs["average_size"] > 0,
            f"slicer average_size must be > 0 bytes, got {attrs['average_size']}",
        )
    elif kind == "http_error":
        need(
            100 <= attrs["status"] <= 599,
            f"http_error status must be 100-599, got {attrs['status']}",
        )
        p = attrs["probability"]
        need(0.0 <= p <= 1.0, f"http_error probability must be in [0, 1], got {p}")


def _toxicity(value: Any, default: float) -> float:
    if value is None:
        return default
    number = _number(value, "toxicity")
    if not 0.0 <= number <= 1.0:
        raise ApiError(400, f"toxicity must be between 0 and 1, got {number}")
    return number


def decode_toxic(body: Any) -> Toxic:
    """A new toxic from a create request body (already JSON-decoded)."""
    if not isinstance(body, Mapping):
        raise _bad("expected a JSON object")
    data = lower_keys(body)
    kind = data.get("type")
    if kind is None or kind == "":
        raise ApiError(400, "invalid toxic type")
    if not isinstance(kind, str) or kind not in TOXIC_TYPES:
        raise ApiError(400, "invalid toxic type")
    stream = data.get("stream")
    if stream is None or stream == "":
        stream = "downstream"
    if not isinstance(stream, str) or stream.lower() not in STREAMS:
        raise ApiError(400, "stream was invalid, can be either upstream or downstream")
    stream = stream.lower()
    if kind == "http_error" and stream != "upstream":
        raise ApiError(400, "http_error toxics read requests: use stream upstream")
    name = data.get("name")
    if name is None or name == "":
        name = f"{kind}_{stream}"
    if not isinstance(name, str):
        raise _bad("cannot unmarshal name: expected a string")
    return Toxic(
        name=name,
        type=kind,
        stream=stream,
        toxicity=_toxicity(data.get("toxicity"), 1.0),
        attributes=_attributes(kind, data.get("attributes"), {}),
    )


def update_toxic(toxic: Toxic, body: Any) -> Toxic:
    """``toxic`` with the request's ``attributes`` merged in and its ``toxicity``, if any."""
    if not isinstance(body, Mapping):
        raise _bad("expected a JSON object")
    data = lower_keys(body)
    return replace(
        toxic,
        toxicity=_toxicity(data.get("toxicity"), toxic.toxicity),
        attributes=_attributes(toxic.type, data.get("attributes"), toxic.attributes),
    )
