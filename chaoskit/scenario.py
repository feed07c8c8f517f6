"""Scenarios: what to run, with which chaos, checked by which validators.

``chaoskit.scenario(name)`` returns a :class:`ScenarioBuilder`; ``.build()`` validates
everything and returns an immutable :class:`Scenario`. Every mistake is a
:class:`~chaoskit.errors.ConfigError` raised at ``build()`` naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaoskit.errors import ConfigError
from chaoskit.units import parse_duration

__all__ = ["CheckSpec", "InjectSpec", "Scenario", "ScenarioBuilder", "Step", "scenario"]

_SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Step:
    """One step of an iteration: ``fn(target)``, sync or async; raising fails the iteration."""

    name: str
    fn: Callable[..., Any]

    @property
    def is_async(self) -> bool:
        import inspect

        return inspect.iscoroutinefunction(self.fn)


@dataclass(frozen=True)
class InjectSpec:
    name: str
    injector: Any


@dataclass(frozen=True)
class CheckSpec:
    name: str
    validator: Any
    severity: str
    explicit: bool = False  # severity given to .check(): it wins over the thresholds


@dataclass(frozen=True)
class Scenario:
    """An immutable, validated scenario. Build one with :func:`scenario`."""

    name: str
    steps: tuple[Step, ...]
    target: Any = None
    injectors: tuple[InjectSpec, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    probes: tuple[str, ...] = ()
    repeat: int | None = None
    run_for: float | None = None
    workers: int = 1
    seed: int | None = None
    thresholds: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def target_name(self) -> str:
        name = getattr(self.target, "name", None)
        if isinstance(name, str):
            return name
        return type(self.target).__name__ if self.target is not None else ""

    @property
    def iterations_planned(self) -> int | None:
        """The number of iterations when bounded by ``repeat``; None for ``run_for``."""
        if self.run_for is not None:
            return None
        return self.repeat if self.repeat is not None else 1

    def severities(self) -> dict[str, str]:
        return {c.name: c.severity for c in self.checks}


class ScenarioBuilder:
    """Fluent builder; each method returns the builder. Nothing is checked until build()."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._target: Any = None
        self._steps: list[tuple[str, Any]] = []
        self._injectors: list[tuple[str, Any]] = []
        self._checks: list[tuple[str, Any, str | None]] = []
        self._probes: list[str] = []
        self._repeat: Any = None
        self._run_for: Any = None
        self._workers: Any = 1
        self._seed: Any = None
        self._thresholds: Any = None
        self._metadata: dict[str, Any] = {}

    def target(self, obj: Any) -> ScenarioBuilder:
        """The system under test: passed to every step; optional name/setup()/teardown()."""
        self._target = obj
        return self

    def step(self, name: str, fn: Callable[..., Any]) -> ScenarioBuilder:
        """Add a step; steps run in the order added, once per iteration."""
        self._steps.append((name, fn))
        return self

    def inject(self, name: str, injector: Any) -> ScenarioBuilder:
        self._injectors.append((name, injector))
        return self

    def check(self, name: str, validator: Any, *, severity: str | None = None) -> ScenarioBuilder:
        """Add a validator; ``severity`` overrides its default (critical/warning/info)."""
        self._checks.append((name, validator, severity))
        return self

    # Go's name for .check
    assert_ = check

    def probe(self, *scopes: str) -> ScenarioBuilder:
        """Measure recursion depth and exceptions in these modules/classes/functions."""
        self._probes.extend(scopes)
        return self

    def repeat(self, n: int) -> ScenarioBuilder:
        self._repeat = n
        return self

    def run_for(self, seconds: float | str) -> ScenarioBuilder:
        self._run_for = seconds
        return self

    def workers(self, n: int) -> ScenarioBuilder:
        self._workers = n
        return self

    def seed(self, n: int) -> ScenarioBuilder:
        self._seed = n
        return self

    def thresholds(self, thresholds: Any) -> ScenarioBuilder:
        """Verdict thresholds (``ck.Thresholds`` or a preset from ``ck.thresholds``)."""
        self._thresholds = thresholds
        return self

    def metadata(self, **values: Any) -> ScenarioBuilder:
        self._metadata.update(values)
        return self

    def build(self) -> Scenario:
        where = f"scenario {self._name!r}"
        if not isinstance(self._name, str) or not self._name.strip():
            raise ConfigError(f"scenario name must be a non-empty string, got {self._name!r}")
        if not self._steps:
            raise ConfigError(f"{where} has no steps: add at least one with .step(name, fn)")
        steps: list[Step] = []
        seen: set[str] = set()
        for name, fn in self._steps:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{where}: step name must be a non-empty string, got {name!r}")
            if not callable(fn):
                raise ConfigError(
                    f"{where}: step {name!r} is not callable (got {type(fn).__name__} {fn!r})"
                )
            if _is_generator_function(fn):
                raise ConfigError(
                    f"{where}: step {name!r} is a generator function (its body would never "
                    "run): use a plain or an async function"
                )
            if name in seen:
                raise ConfigError(f"{where}: duplicate step name {name!r}")
            seen.add(name)
            steps.append(Step(name, fn))

        repeat = self._repeat
        run_for: float | None = None
        if repeat is not None and self._run_for is not None:
            raise ConfigError(f"{where}: set either .repeat(n) or .run_for(seconds), not both")
        if repeat is not None and (isinstance(repeat, bool) or not isinstance(repeat, int)):
            raise ConfigError(f"{where}: repeat must be an integer, got {repeat!r}")
        if repeat is not None and repeat < 1:
            raise ConfigError(f"{where}: repeat must be >= 1, got {repeat}")
        if self._run_for is not None:
            run_for = parse_duration(self._run_for, what=f"{where}: run_for")
            if run_for <= 0:
                raise ConfigError(f"{where}: run_for must be > 0 seconds, got {self._run_for!r}")
        workers = self._workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"{where}: workers must be an integer >= 1, got {workers!r}")
        seed = self._seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"{where}: seed must be an integer, got {seed!r}")

        injectors = self._named(self._injectors, "injector", ("start", "stop"), where)
        checks: list[CheckSpec] = []
        names: set[str] = set()
        for name, validator, severity in self._checks:
            self._check_component(name, validator, "validator", ("after_iteration",), where)
            if name in names:
                raise ConfigError(f"{where}: duplicate validator name {name!r}")
            names.add(name)
            sev = severity or getattr(validator, "severity", "critical")
            if sev not in _SEVERITIES:
                raise ConfigError(
                    f"{where}: validator {name!r} severity must be one of "
                    f"{', '.join(_SEVERITIES)}, got {sev!r}"
                )
            checks.append(CheckSpec(name, validator, sev, explicit=severity is not None))
        for scope in self._probes:
            if not isinstance(scope, str) or not scope:
                raise ConfigError(f"{where}: probe scope must be a non-empty string, got {scope!r}")

        return Scenario(
            name=self._name,
            steps=tuple(steps),
            target=self._target,
            injectors=tuple(InjectSpec(n, i) for n, i in injectors),
            checks=tuple(checks),
            probes=tuple(dict.fromkeys(self._probes)),
            repeat=repeat,
            run_for=run_for,
            workers=workers,
            seed=seed,
            thresholds=self._thresholds,
            metadata=dict(self._metadata),
        )

    @staticmethod
    def _check_component(
        name: Any, obj: Any, kind: str, methods: tuple[str, ...], where: str
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: {kind} name must be a non-empty string, got {name!r}")
        missing = [m for m in methods if not callable(getattr(obj, m, None))]
        if missing:
            raise ConfigError(
                f"{where}: {kind} {name!r} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind} "
                f"(got {type(obj).__name__}, missing {', '.join(missing)}())"
            )
        validate = getattr(obj, "validate_config", None)
        if callable(validate):
            try:
                validate()
            except ConfigError as exc:
                raise ConfigError(f"{where}: {kind} {name!r}: {exc}") from None

    def _named(
        self, items: list[tuple[str, Any]], kind: str, methods: tuple[str, ...], where: str
    ) -> list[tuple[str, Any]]:
        seen: set[str] = set()
        for name, obj in items:
            self._check_component(name, obj, kind, methods, where)
            if name in seen:
                raise ConfigError(f"{where}: duplicate {kind} name {name!r}")
            seen.add(name)
        return items


def _is_generator_function(fn: Any) -> bool:
    """A generator step would return a generator and never run its body."""
    import inspect

    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)


def scenario(name: str) -> ScenarioBuilder:
    """Start building a scenario called ``name``."""
    return ScenarioBuilder(name)
