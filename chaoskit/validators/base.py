"""The validator protocol and a base class for the built-in validators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from chaoskit.context import IterationContext, RunContext
from chaoskit.errors import ConfigError
from chaoskit.events import Event

__all__ = ["SEVERITIES", "BaseValidator", "Configurable", "Validator", "check_int", "check_number"]

SEVERITIES = ("critical", "warning", "info")
_T = TypeVar("_T")


@runtime_checkable
class Validator(Protocol):
    """Checks an invariant from the event stream and its own samples.

    ``after_iteration`` returns a violation message (the iteration fails) or None;
    ``finish`` returns a final violation message for the whole run or None.
    """

    name: str
    severity: str

    def start(self, run: RunContext) -> None: ...

    def before_iteration(self, ctx: IterationContext) -> None: ...

    def after_iteration(self, ctx: IterationContext) -> str | None: ...

    def finish(self, run: RunContext) -> str | None: ...

    def stop(self, run: RunContext) -> None: ...


def check_number(
    value: object,
    what: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    """Validate a numeric argument, raising ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{what} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{what} must be <= {maximum}, got {value!r}")
    return float(value)


def check_int(value: object, what: str, *, minimum: int | None = None) -> int:
    """Validate an integer argument, raising ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be an integer, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{what} must be >= {minimum}, got {value!r}")
    return value


class Configurable:
    """Collects argument errors at construction; ``validate_config()`` raises the first.

    The scenario builder calls ``validate_config()`` at ``build()``, so a bad threshold is
    reported there with the scenario's and the validator's names.
    """

    def __init__(self) -> None:
        self._config_errors: list[ConfigError] = []

    def _arg(self, fn: Callable[[], _T], fallback: _T) -> _T:
        try:
            return fn()
        except ConfigError as exc:
            self._config_errors.append(exc)
            return fallback

    def validate_config(self) -> None:
        if self._config_errors:
            raise self._config_errors[0]


class BaseValidator(Configurable):
    """Subscribes to the event kinds in ``events`` and forwards them to ``on_event``."""

    kind = "validator"
    default_severity = "critical"
    events: tuple[type[Event], ...] = ()

    def __init__(self, name: str | None = None, *, severity: str | None = None) -> None:
        super().__init__()
        self.name = name or self.kind
        sev = severity or self.default_severity
        if sev not in SEVERITIES:
            self._config_errors.append(
                ConfigError(f"severity must be one of {', '.join(SEVERITIES)}, got {sev!r}")
            )
            sev = self.default_severity
        self.severity = sev
        self._unsubscribe: Callable[[], None] | None = None

    def start(self, run: RunContext) -> None:
        if self.events:
            self._unsubscribe = run.bus.subscribe(self.on_event, self.events)

    def on_event(self, event: Event) -> None:
        """Called for each subscribed event (in the publishing thread)."""

    def before_iteration(self, ctx: IterationContext) -> None:
        return None

    def after_iteration(self, ctx: IterationContext) -> str | None:
        return None

    def finish(self, run: RunContext) -> str | None:
        return None

    def stop(self, run: RunContext) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "severity": self.severity}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
