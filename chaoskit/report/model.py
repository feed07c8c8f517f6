"""The report: a fold over a run's events.

:class:`ReportBuilder` subscribes to the bus (or reads a recorded event log) and produces a
:class:`Report`, so a report rebuilt from ``events.jsonl`` is the same as the live one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chaoskit.events import (
    Event,
    EventBus,
    ExceptionRaised,
    FailpointFired,
    FailpointHit,
    InjectionApplied,
    IterationFinished,
    IterationStarted,
    LoopDetected,
    PanicRecorded,
    RecursionDepth,
    ResourceSample,
    RunFinished,
    RunStarted,
    TaskLeaked,
    ThreadLeaked,
    ValidatorVerdict,
)

__all__ = [
    "Durations",
    "Failure",
    "IterationRecord",
    "Report",
    "ReportBuilder",
    "ValidatorResult",
    "percentile",
]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Failure:
    """One failed iteration: where it failed and why."""

    iteration: int
    step: str | None
    error: str
    error_type: str | None = None
    violations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Durations:
    """Iteration duration statistics, in seconds."""

    count: int = 0
    min: float = 0.0
    mean: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, values: Iterable[float]) -> Durations:
        data = sorted(values)
        if not data:
            return cls()
        return cls(
            count=len(data),
            min=data[0],
            mean=sum(data) / len(data),
            p50=percentile(data, 50),
            p95=percentile(data, 95),
            p99=percentile(data, 99),
            max=data[-1],
        )


@dataclass
class ValidatorResult:
    """A validator's verdict over the run, with its violations grouped."""

    name: str
    passed: bool = True
    severity: str = "critical"
    violations: int = 0
    first_iteration: int | None = None
    last_iteration: int | None = None
    message: str = ""
    messages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IterationRecord:
    iteration: int
    started: float
    duration: float
    ok: bool
    worker: int = 0
    error_type: str | None = None


@dataclass
class Report:
    """The outcome of one run. ``passed`` is what :func:`chaoskit.run` acts on."""

    scenario: str = ""
    seed: int = 0
    workers: int = 1
    started_at: float = 0.0
    finished_at: float = 0.0
    duration: float = 0.0
    iterations: int = 0
    successes: int = 0
    failures: list[Failure] = field(default_factory=list)
    verdicts: dict[str, ValidatorResult] = field(default_factory=dict)
    injections: dict[str, dict[str, int]] = field(default_factory=dict)
    failpoints: dict[str, dict[str, int]] = field(default_factory=dict)
    durations: Durations = field(default_factory=Durations)
    max_depths: dict[str, int] = field(default_factory=dict)
    exceptions: dict[str, int] = field(default_factory=dict)
    panics_recovered: int = 0
    loops: list[dict[str, Any]] = field(default_factory=list)
    leaks: dict[str, int] = field(default_factory=dict)
    peak_rss: int | None = None
    peak_threads: int | None = None
    interrupted: bool = False
    interrupt_reason: str | None = None
    iteration_log: list[IterationRecord] = field(default_factory=list)
    chaoskit_version: str = ""

    @property
    def success_rate(self) -> float:
        return self.successes / self.iterations if self.iterations else 0.0

    @property
    def failed_iterations(self) -> int:
        return self.iterations - self.successes

    @property
    def passed(self) -> bool:
        """No failed iteration, every validator passed, and the run was not interrupted."""
        return (
            not self.failures
            and self.iterations > 0
            and all(v.passed for v in self.verdicts.values())
            and not self.interrupted
        )

    # exporters (one module per format under chaoskit/report/)
    def to_dict(self) -> dict[str, Any]:
        from chaoskit.report.json import JsonReport

        return JsonReport(self).as_dict()

    def to_json(self, indent: int | None = 2) -> str:
        from chaoskit.report.json import JsonReport

        return JsonReport(self).render(indent=indent)

    def to_text(self) -> str:
        from chaoskit.report.text import TextReport

        return TextReport(self).render()

    def __str__(self) -> str:
        return self.to_text()

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> Report:
        builder = ReportBuilder()
        for ev in events:
            builder.on_event(ev)
        return builder.build()


class ReportBuilder:
    """Folds events into a :class:`Report` (live on a bus, or from a recorded log)."""

    def __init__(self) -> None:
        self._report = Report()
        self._started: dict[int, float] = {}
        self._durations: list[float] = []
        self._exc_counter: Counter[str] = Counter()
        self._unsubscribe: Any = None

    def attach(self, bus: EventBus) -> ReportBuilder:
        self._unsubscribe = bus.subscribe(self.on_event)
        return self

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def on_event(self, ev: Event) -> None:  # noqa: C901 - one branch per event type
        r = self._report
        if isinstance(ev, IterationStarted):
            if ev.iteration is not None:
                self._started[ev.iteration] = ev.ts
        elif isinstance(ev, IterationFinished):
            it = ev.iteration if ev.iteration is not None else r.iterations
            r.iterations += 1
            self._durations.append(ev.duration)
            started = self._started.pop(it, ev.ts - ev.duration)
            r.iteration_log.append(
                IterationRecord(it, started, ev.duration, ev.ok, ev.worker, ev.error_type)
            )
            if ev.ok:
                r.successes += 1
            else:
                r.failures.append(
                    Failure(
                        iteration=it,
                        step=ev.step,
                        error=ev.error or "",
                        error_type=ev.error_type,
                        violations=ev.violations,
                    )
                )
        elif isinstance(ev, InjectionApplied):
            per = r.injections.setdefault(ev.injector, {})
            per[ev.action] = per.get(ev.action, 0) + 1
        elif isinstance(ev, FailpointHit):
            fp = r.failpoints.setdefault(ev.name, {"hits": 0, "fired": 0})
            fp["hits"] += 1
        elif isinstance(ev, FailpointFired):
            fp = r.failpoints.setdefault(ev.name, {"hits": 0, "fired": 0})
            fp["fired"] += 1
        elif isinstance(ev, ValidatorVerdict):
            self._verdict(ev)
        elif isinstance(ev, RecursionDepth):
            if ev.depth > r.max_depths.get(ev.function, 0):
                r.max_depths[ev.function] = ev.depth
        elif isinstance(ev, ExceptionRaised):
            self._exc_counter[ev.exc_type] += 1
        elif isinstance(ev, PanicRecorded):
            if ev.recovered:
                r.panics_recovered += 1
        elif isinstance(ev, ThreadLeaked):
            r.leaks["threads"] = r.leaks.get("threads", 0) + ev.count
        elif isinstance(ev, TaskLeaked):
            r.leaks["tasks"] = r.leaks.get("tasks", 0) + ev.count
        elif isinstance(ev, ResourceSample):
            if ev.rss is not None:
                r.peak_rss = max(r.peak_rss or 0, ev.rss)
            if ev.threads is not None:
                r.peak_threads = max(r.peak_threads or 0, ev.threads)
        elif isinstance(ev, LoopDetected):
            r.loops.append(
                {
                    "iteration": ev.iteration,
                    "elapsed": ev.elapsed,
                    "thread": ev.thread,
                    "location": ev.location,
                    "function": ev.function,
                    "loop_iterations": ev.loop_iterations,
                    "stack": list(ev.stack),
                }
            )
        elif isinstance(ev, RunStarted):
            r.scenario = ev.scenario
            r.seed = ev.seed
            r.workers = ev.workers
            r.started_at = ev.ts
            r.chaoskit_version = ev.chaoskit_version
            for name in ev.validators:
                r.verdicts.setdefault(
                    name, ValidatorResult(name=name, severity=ev.severities.get(name, "critical"))
                )
        elif isinstance(ev, RunFinished):
            r.finished_at = ev.ts
            r.duration = ev.duration
            r.interrupted = ev.interrupted
            r.interrupt_reason = ev.reason

    def _verdict(self, ev: ValidatorVerdict) -> None:
        res = self._report.verdicts.setdefault(
            ev.validator, ValidatorResult(name=ev.validator, severity=ev.severity)
        )
        res.severity = ev.severity
        if ev.passed:
            return
        res.passed = False
        if not ev.final or res.violations == 0:
            res.violations += 1
        if ev.iteration is not None:
            if res.first_iteration is None:
                res.first_iteration = ev.iteration
            res.last_iteration = ev.iteration
        if ev.message:
            if not res.message:
                res.message = ev.message
            if len(res.messages) < 20 and ev.message not in res.messages:
                res.messages.append(ev.message)

    def build(self) -> Report:
        r = self._report
        r.durations = Durations.of(self._durations)
        r.exceptions = dict(self._exc_counter)
        r.iteration_log.sort(key=lambda rec: rec.iteration)
        r.failures.sort(key=lambda f: f.iteration)
        return r
