"""Verdicts and the thresholds that decide them.

A run ends with a :class:`Verdict` that a CI pipeline acts on:

- ``FAIL``: a critical validator was violated, the success rate is under
  ``min_success_rate``, more iterations failed than ``max_failed_iterations`` allows, no
  iteration ran, the run was interrupted, or (``require_all_validators``) any validator
  was violated at all;
- ``UNSTABLE``: a validator of severity ``warning`` was violated;
- ``PASS``: otherwise (``info`` violations are reported but never change the verdict).

A validator's severity comes, in order, from the scenario (``.check(name, v,
severity="warning")``), from the thresholds' ``critical``/``warning``/``info`` lists (which
name checks or validator kinds such as ``"thread_limit"``), from the thresholds'
``default_severity``, and finally from the validator's own default.

The presets are :data:`DEFAULT`, :data:`STRICT` and :data:`RELAXED`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chaoskit.errors import ConfigError

__all__ = [
    "DEFAULT",
    "EXIT_CONFIG_ERROR",
    "EXIT_FAIL",
    "EXIT_OK",
    "PRESETS",
    "RELAXED",
    "SEVERITIES",
    "STRICT",
    "Thresholds",
    "Verdict",
    "exit_code",
    "preset",
]

SEVERITIES = ("critical", "warning", "info")

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_CONFIG_ERROR = 2


class Verdict(enum.StrEnum):
    """The outcome of a run, worst last."""

    PASS = "PASS"
    UNSTABLE = "UNSTABLE"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        return ("PASS", "UNSTABLE", "FAIL").index(self.value)


def exit_code(verdict: Verdict | str, *, unstable_fails: bool = False) -> int:
    """The process exit code for a verdict: PASS 0, UNSTABLE 0 (or 1), FAIL 1."""
    v = Verdict(str(verdict))
    if v is Verdict.FAIL or (v is Verdict.UNSTABLE and unstable_fails):
        return EXIT_FAIL
    return EXIT_OK


def _names(value: Iterable[str] | str | None, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    out = set()
    for item in value:
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{what} must list validator names, got {item!r}")
        out.add(item)
    return frozenset(out)


@dataclass(frozen=True)
class Thresholds:
    """What a run must achieve to PASS. Frozen; derive variants with :meth:`replace`."""

    min_success_rate: float = 0.95
    max_failed_iterations: int | None = None
    require_all_validators: bool = False
    critical: Iterable[str] = field(default_factory=frozenset)
    warning: Iterable[str] = field(default_factory=frozenset)
    info: Iterable[str] = field(default_factory=frozenset)
    default_severity: str | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        rate = self.min_success_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise ConfigError(f"min_success_rate must be a number between 0 and 1, got {rate!r}")
        mfi = self.max_failed_iterations
        if mfi is not None and (isinstance(mfi, bool) or not isinstance(mfi, int) or mfi < 0):
            raise ConfigError(
                f"max_failed_iterations must be a non-negative integer or None, got {mfi!r}"
            )
        if not isinstance(self.require_all_validators, bool):
            raise ConfigError(
                f"require_all_validators must be true or false, got {self.require_all_validators!r}"
            )
        for attr in ("critical", "warning", "info"):
            object.__setattr__(self, attr, _names(getattr(self, attr), attr))
        if self.default_severity is not None and self.default_severity not in SEVERITIES:
            raise ConfigError(
                f"default_severity must be one of {', '.join(SEVERITIES)}, "
                f"got {self.default_severity!r}"
            )
        crit, warn, inf = self._lists()
        clash = (crit & warn) | (crit & inf) | (warn & inf)
        if clash:
            raise ConfigError(
                f"validator(s) listed under two severities: {', '.join(sorted(clash))}"
            )

    def _lists(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        return frozenset(self.critical), frozenset(self.warning), frozenset(self.info)

    # --- severities -------------------------------------------------------------------

    def severity_for(
        self,
        name: str,
        kind: str | None = None,
        default: str = "critical",
        explicit: str | None = None,
    ) -> str:
        """The severity of check ``name`` (a validator of ``kind``), by the rules above."""
        if explicit is not None:
            return explicit
        listed = self.listed(name, kind)
        if listed is not None:
            return listed
        if self.default_severity is not None:
            return self.default_severity
        return default

    def listed(self, name: str, kind: str | None = None) -> str | None:
        """The severity the ``critical``/``warning``/``info`` lists give ``name`` or ``kind``."""
        for sev, names in zip(SEVERITIES, self._lists(), strict=True):
            if name in names or (kind is not None and kind in names):
                return sev
        return None

    def resolve(self, checks: Iterable[tuple[str, Any, str | None]]) -> dict[str, str]:
        """Severities for ``(name, validator, explicit_severity)`` triples (the executor's)."""
        out: dict[str, str] = {}
        for name, validator, explicit in checks:
            kind = getattr(validator, "kind", None)
            default = getattr(validator, "severity", None) or "critical"
            out[name] = self.severity_for(name, kind, default, explicit)
        return out

    def resolve_checks(self, checks: Iterable[Any]) -> dict[str, str]:
        """Severities for a scenario's checks (objects with name, validator, severity).

        A check's severity counts as chosen by the user when it was given to
        ``.check(..., severity=...)`` or differs from its validator class's
        ``default_severity``; otherwise these thresholds decide.
        """
        out: dict[str, str] = {}
        for c in checks:
            validator = c.validator
            default = getattr(type(validator), "default_severity", None)
            chosen = getattr(c, "explicit", False)
            explicit = c.severity if chosen or default is None or c.severity != default else None
            kind = getattr(validator, "kind", None)
            out[c.name] = self.severity_for(c.name, kind, c.severity, explicit)
        return out

    # --- (de)serialisation ------------------------------------------------------------

    def replace(self, **changes: Any) -> Thresholds:
        changes.setdefault("name", "custom")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "min_success_rate": self.min_success_rate,
            "max_failed_iterations": self.max_failed_iterations,
            "require_all_validators": self.require_all_validators,
            "critical": sorted(self.critical),
            "warning": sorted(self.warning),
            "info": sorted(self.info),
            "default_severity": self.default_severity,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Thresholds:
        """Build from a mapping (a config file section); ``preset = "strict"`` is a base."""
        data = dict(data)
        base_name = data.pop("preset", None)
        base = preset(base_name, source=source) if base_name is not None else DEFAULT
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown thresholds key {unknown[0]!r} (known: preset, "
                f"{', '.join(sorted(allowed - {'name'}))})",
                source=source,
            )
        if not data:
            return base
        try:
            return base.replace(**data)
        except ConfigError as exc:
            raise ConfigError(exc.message, source=source) from None


# Validator kinds named by the presets (the built-in validators' ``kind``).
_HARD_LIMITS = frozenset(
    {"thread_limit", "recursion_depth_limit", "slow_iteration", "memory_limit", "no_infinite_loop"}
)

DEFAULT = Thresholds(min_success_rate=0.95, critical=_HARD_LIMITS, name="default")
"""95% of iterations must succeed; thread, recursion, slow-iteration, memory and hang
validators are critical; every other validator keeps its own default severity."""

STRICT = Thresholds(
    min_success_rate=1.0,
    max_failed_iterations=0,
    require_all_validators=True,
    critical=_HARD_LIMITS | {"panic_recovery"},
    name="strict",
)
"""Every iteration must succeed and every validator pass; panic recovery is critical."""

RELAXED = Thresholds(
    min_success_rate=0.80,
    max_failed_iterations=200,
    critical=frozenset({"thread_limit"}),
    default_severity="warning",
    name="relaxed",
)
"""80% success, up to 200 failed iterations; only thread limits are critical."""

PRESETS: dict[str, Thresholds] = {"default": DEFAULT, "strict": STRICT, "relaxed": RELAXED}


def preset(name: str | Thresholds | Mapping[str, Any], *, source: str | None = None) -> Thresholds:
    """A preset by name (``"default"``, ``"strict"``, ``"relaxed"``; case-insensitive).

    A :class:`Thresholds` is returned as is; a mapping goes through :meth:`Thresholds.from_dict`.
    """
    if isinstance(name, Thresholds):
        return name
    if isinstance(name, Mapping):
        return Thresholds.from_dict(name, source=source)
    if not isinstance(name, str):
        raise ConfigError(
            "thresholds must be a ck.Thresholds, a preset name "
            f"({', '.join(PRESETS)}) or a mapping, got {type(name).__name__} {name!r}",
            source=source,
        )
    if name.lower() not in PRESETS:
        raise ConfigError(
            f"unknown thresholds preset {name!r} (known: {', '.join(PRESETS)})", source=source
        )
    return PRESETS[name.lower()]
