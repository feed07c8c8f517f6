"""The report: a fold over a run's events.

:class:`ReportBuilder` subscribes to the bus (or reads a recorded event log) and produces a
:class:`Report`, so a report rebuilt from ``events.jsonl`` is the same as the live one.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit._util import percentile
from chaoskit.events import (
    Event,
    EventBus,
    ExceptionRaised,
    FailpointFired,
    FailpointHit,
    InjectionApplied,
    InjectorStopped,
    IterationFinished,
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
from chaoskit.report.verdict import ErrorPattern, PatternCounter
from chaoskit.thresholds import DEFAULT, Thresholds, Verdict, preset

if TYPE_CHECKING:
    from chaoskit.report.verdict import Evaluation

__all__ = [
    "Durations",
    "Failure",
    "IterationRecord",
    "Report",
    "ReportBuilder",
    "ValidatorResult",
    "percentile",
]


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


@dataclass(slots=True)
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
    # True when the run had more iterations than ReportBuilder.max_iteration_log per outcome
    # and iteration_log holds a uniform sample of them
    iteration_log_sampled: bool = False
    chaoskit_version: str = ""
    thresholds: Thresholds = DEFAULT
    # where the thresholds came from: "default", "given" (to the builder) or "recorded"
    thresholds_source: str = "default"
    # failed iterations per injected fault active in them ("injector:action",
    # "failpoint:name"; "(none)" when nothing was injected in the failed iteration)
    failures_by_fault: dict[str, int] = field(default_factory=dict)
    # failpoints the run enabled that no code declared or hit (specs: "never registered")
    failpoints_never_registered: list[str] = field(default_factory=list)
    # failed iterations per error type ("validator" when only validators failed it); complete
    # even when ``failures`` keeps only the first ReportBuilder.max_failures
    failures_by_type: dict[str, int] = field(default_factory=dict)
    # every failed iteration folded into patterns, most frequent first (at most 50)
    error_patterns: list[ErrorPattern] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return self.successes / self.iterations if self.iterations else 0.0

    @property
    def failures_truncated(self) -> bool:
        """True when ``failures`` holds only the first failed iterations of a long run."""
        return len(self.failures) < self.failed_iterations

    @property
    def failed_iterations(self) -> int:
        return self.iterations - self.successes

    def evaluate(self) -> Evaluation:
        """The verdict under :attr:`thresholds`, with the reasons for it."""
        from chaoskit.report.verdict import evaluate

        return evaluate(self)

    @property
    def verdict(self) -> Verdict:
        """PASS, UNSTABLE or FAIL under :attr:`thresholds` (see :mod:`chaoskit.thresholds`)."""
        return self.evaluate().verdict

    @property
    def verdict_reasons(self) -> tuple[str, ...]:
        return self.evaluate().reasons

    @property
    def passed(self) -> bool:
        """The verdict is not FAIL (UNSTABLE passes; ``--unstable-fails`` makes CI stricter)."""
        return self.verdict is not Verdict.FAIL

    def exit_code(self, *, unstable_fails: bool = False) -> int:
        from chaoskit.thresholds import exit_code

        return exit_code(self.verdict, unstable_fails=unstable_fails)

    def violations(self, severity: str | None = None) -> list[ValidatorResult]:
        """Violated validators (of one severity if given), most severe, then most frequent, first."""
        found = [
            v
            for v in self.verdicts.values()
            if not v.passed and (severity is None or v.severity == severity)
        ]
        rank = {"critical": 0, "warning": 1, "info": 2}
        return sorted(found, key=lambda v: (rank.get(v.severity, 3), -v.violations, v.name))

    def top_errors(self, n: int = 5) -> list[ErrorPattern]:
        """The ``n`` most frequent error patterns, numbers folded (``timeout after N ms``)."""
        from chaoskit.report.verdict import top_errors

        return top_errors(self, n)

    def with_thresholds(self, thresholds: Thresholds | str) -> Report:
        """A copy judged under other thresholds (a :class:`Thresholds` or a preset name)."""
        return dataclasses.replace(self, thresholds=preset(thresholds))

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

    def to_junit_xml(self) -> str:
        from chaoskit.report.junit import JUnitReport

        return JUnitReport(self).render()

    def to_html(self) -> str:
        from chaoskit.report.html import HtmlReport

        return HtmlReport(self).render()

    def write(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the report to ``path``; the format comes from ``fmt`` or the suffix."""
        from chaoskit.report.formats import write_report

        return write_report(self, path, fmt)

    def __str__(self) -> str:
        return self.to_text()

    @classmethod
    def from_events(
        cls,
        events: Iterable[Event] | str | os.PathLike[str],
        thresholds: Thresholds | str | None = None,
    ) -> Report:
        """Rebuild a report from events, or from the path of a recorded JSON Lines log.

        A log that never reached ``run.finished`` (a crashed or killed run) gives a report
        marked interrupted, never a PASS.
        """
        if isinstance(events, (str, os.PathLike)):
            from chaoskit.events import read_events

            events = read_events(os.fspath(events))
        builder = ReportBuilder(thresholds=thresholds)
        for ev in events:
            builder.on_event(ev)
        return builder.build()


class ReportBuilder:
    """Folds events into a :class:`Report` (live on a bus, or from a recorded log)."""

    # The kinds folded here (step events and IterationStarted are not needed: leaving them
    # out lets the executor skip building them when nothing else listens).
    event_kinds: tuple[type[Event], ...] = (
        IterationFinished, InjectionApplied, FailpointHit, FailpointFired, ValidatorVerdict,
        RecursionDepth, ExceptionRaised, PanicRecorded, ThreadLeaked, TaskLeaked, ResourceSample,
        LoopDetected, RunStarted, RunFinished, InjectorStopped,
    )  # fmt: skip

    max_iteration_log = 100_000
    max_failures = 10_000

    def __init__(self, thresholds: Thresholds | str | None = None) -> None:
        """``thresholds``: these, else the ones recorded in the run, else DEFAULT."""
        self._run_started = False
        self._run_finished = False
        self._thresholds = preset(thresholds) if thresholds is not None else None
        self._report = Report(
            thresholds=self._thresholds or DEFAULT,
            thresholds_source="default" if self._thresholds is None else "given",
        )
        self._declared: set[str] = set()
        self._faults: dict[int, set[str]] = {}
        self._ok_log: list[IterationRecord] = []
        self._failed_log: list[IterationRecord] = []
        self._log_seen = {True: 0, False: 0}
        self._sampler = random.Random(0)
        self._patterns = PatternCounter()
        self._durations: list[float] = []
        self._exc_counter: Counter[str] = Counter()
        self._unsubscribe: Any = None

    def attach(self, bus: EventBus) -> ReportBuilder:
        self._unsubscribe = bus.subscribe(self.on_event, self.event_kinds)
        return self

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def on_event(self, ev: Event) -> None:
        r = self._report
        if isinstance(ev, IterationFinished):
            it = ev.iteration if ev.iteration is not None else r.iterations
            r.iterations += 1
            self._durations.append(ev.duration)
            # (from the finish event alone: IterationStarted is not folded, see event_kinds)
            started = ev.ts - ev.duration
            self._log_iteration(
                IterationRecord(it, started, ev.duration, ev.ok, ev.worker, ev.error_type)
            )
            faults = self._faults.pop(it, None)
            if ev.ok:
                r.successes += 1
            else:
                for fault in sorted(faults or {"(none)"}):
                    r.failures_by_fault[fault] = r.failures_by_fault.get(fault, 0) + 1
                kind = ev.error_type or ("validator" if ev.step is None else "error")
                r.failures_by_type[kind] = r.failures_by_type.get(kind, 0) + 1
                failure = Failure(
                    iteration=it,
                    step=ev.step,
                    error=ev.error or "",
                    error_type=ev.error_type,
                    violations=ev.violations,
                )
                self._patterns.add(failure)
                if len(r.failures) < self.max_failures:
                    r.failures.append(failure)
        elif isinstance(ev, InjectionApplied):
            per = r.injections.setdefault(ev.injector, {})
            per[ev.action] = per.get(ev.action, 0) + 1
            if ev.iteration is not None:
                self._faults.setdefault(ev.iteration, set()).add(f"{ev.injector}:{ev.action}")
        elif isinstance(ev, FailpointHit):
            fp = r.failpoints.setdefault(ev.name, {"hits": 0, "fired": 0})
            fp["hits"] += 1
        elif isinstance(ev, FailpointFired):
            fp = r.failpoints.setdefault(ev.name, {"hits": 0, "fired": 0})
            fp["fired"] += 1
            if ev.iteration is not None:
                self._faults.setdefault(ev.iteration, set()).add(f"failpoint:{ev.name}")
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
            self._run_started = True
            r.scenario = ev.scenario
            r.seed = ev.seed
            r.workers = ev.workers
            r.started_at = ev.ts
            r.chaoskit_version = ev.chaoskit_version
            recorded = getattr(ev, "thresholds", None)
            if self._thresholds is None and isinstance(recorded, dict) and recorded:
                r.thresholds = Thresholds.from_dict(recorded, source="run.started event")
                r.thresholds_source = "recorded"
            for name in ev.validators:
                recorded_sev = ev.severities.get(name, "critical")
                sev = r.thresholds.listed(name) or recorded_sev
                self._declared.add(name)
                res = r.verdicts.setdefault(name, ValidatorResult(name=name))
                res.severity = sev
        elif isinstance(ev, InjectorStopped):
            self._failpoint_metrics(ev.metrics)
        elif isinstance(ev, RunFinished):
            self._run_finished = True
            r.finished_at = ev.ts
            r.duration = ev.duration
            r.interrupted = ev.interrupted
            r.interrupt_reason = ev.reason

    def _verdict(self, ev: ValidatorVerdict) -> None:
        res = self._report.verdicts.get(ev.validator)
        if res is None:
            sev = self._report.thresholds.listed(ev.validator) or ev.severity
            res = self._report.verdicts[ev.validator] = ValidatorResult(ev.validator, severity=sev)
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

    def _log_iteration(self, rec: IterationRecord) -> None:
        """Keep every record up to ``max_iteration_log`` per outcome, then a uniform sample
        (a deterministic reservoir), so day-long runs do not grow without bound."""
        log = self._ok_log if rec.ok else self._failed_log
        seen = self._log_seen[rec.ok] = self._log_seen[rec.ok] + 1
        if len(log) < self.max_iteration_log:
            log.append(rec)
            return
        self._report.iteration_log_sampled = True
        slot = self._sampler.randrange(seen)
        if slot < self.max_iteration_log:
            log[slot] = rec

    def _failpoint_metrics(self, metrics: dict[str, Any]) -> None:
        """A failpoints injector's final counts: enabled names appear even if never hit."""
        r = self._report
        counts = metrics.get("failpoints")
        if isinstance(counts, dict):
            for name in counts:
                r.failpoints.setdefault(str(name), {"hits": 0, "fired": 0})
        missing = metrics.get("never_registered")
        if isinstance(missing, list):
            merged = set(r.failpoints_never_registered) | {str(n) for n in missing}
            r.failpoints_never_registered = sorted(merged)

    def build(self) -> Report:
        r = self._report
        if self._run_started and not self._run_finished:
            r.interrupted = True
            r.interrupt_reason = "incomplete event log: the run never finished (crashed or killed)"
        r.iteration_log = self._ok_log + self._failed_log
        r.durations = Durations.of(self._durations)
        r.exceptions = dict(self._exc_counter)
        r.iteration_log.sort(key=lambda rec: rec.iteration)
        r.failures.sort(key=lambda f: f.iteration)
        r.error_patterns = self._patterns.top(50)
        return r
