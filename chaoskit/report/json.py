"""JSON report: a documented, versioned schema (see docs/report-schema.md).

The schema is a superset of the Go ChaosKit report (``verdict``, ``summary``,
``scenario_name``, ``execution_time``, ``total_iterations``, ``success_count``,
``failure_count``, ``success_rate``, ``avg_duration``, ``critical_failures``, ``warnings``,
``info_messages``, ``analysis``, ``thresholds``), with durations in seconds rather than Go
nanoseconds. ``schema_version`` changes in its major part only when a field is removed or
changes meaning; new fields bump the minor part.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from chaoskit.report.model import Report, ValidatorResult

__all__ = ["SCHEMA_ID", "SCHEMA_VERSION", "JsonReport", "iso_time"]

SCHEMA_ID = "chaoskit.report"
SCHEMA_VERSION = "1.1"


def _r(x: float) -> float:
    """Seconds rounded to the nanosecond: stable across CPython's float summation changes."""
    return round(x, 9)


def iso_time(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp (None stays None)."""
    if not ts:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


class JsonReport:
    """Renders a :class:`Report` as JSON."""

    def __init__(self, report: Report, *, windows: int = 10) -> None:
        self.report = report
        self.windows = windows

    def _starts(self) -> dict[int, float]:
        return {rec.iteration: rec.started for rec in self.report.iteration_log}

    def _violation(self, v: ValidatorResult, starts: dict[int, float]) -> dict[str, Any]:
        first = starts.get(v.first_iteration) if v.first_iteration is not None else None
        last = starts.get(v.last_iteration) if v.last_iteration is not None else None
        return {
            "validator_name": v.name,
            "severity": v.severity,
            "message": v.message,
            "messages": list(v.messages),
            "occurrences": v.violations,
            "first_iteration": v.first_iteration,
            "last_iteration": v.last_iteration,
            "first_seen": iso_time(first),
            "last_seen": iso_time(last),
        }

    def _failure_windows(self) -> list[dict[str, Any]]:
        log = self.report.iteration_log
        if not log or self.windows < 1:
            return []
        t0 = min(rec.started for rec in log)
        t1 = max(rec.started + rec.duration for rec in log)
        width = (t1 - t0) / self.windows
        if width <= 0:
            return []
        counts = [[0, 0] for _ in range(self.windows)]
        for rec in log:
            idx = min(int((rec.started - t0) / width), self.windows - 1)
            counts[idx][0] += 1
            counts[idx][1] += 0 if rec.ok else 1
        return [
            {
                "start": iso_time(t0 + i * width),
                "end": iso_time(t0 + (i + 1) * width),
                "iterations": n,
                "failures": f,
                "failure_rate": f / n if n else 0.0,
            }
            for i, (n, f) in enumerate(counts)
        ]

    def _analysis(self) -> dict[str, Any]:
        r = self.report
        by_type: dict[str, int] = dict(r.failures_by_type)
        if not by_type:
            for f in r.failures:
                key = f.error_type or ("validator" if f.step is None else "error")
                by_type[key] = by_type.get(key, 0) + 1
        return {
            "by_validator": {v.name: v.violations for v in r.violations()},
            "by_type": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_fault": dict(sorted(r.failures_by_fault.items(), key=lambda kv: (-kv[1], kv[0]))),
            "top_errors": [
                {
                    "error_pattern": p.pattern,
                    "error_type": p.error_type,
                    "count": p.count,
                    "first_iteration": p.first_iteration,
                    "last_iteration": p.last_iteration,
                    "steps": list(p.steps),
                    "examples": list(p.examples),
                }
                for p in r.top_errors(5)
            ],
            "failure_rate_over_time": self._failure_windows(),
        }

    def summary(self) -> str:
        r = self.report
        ev = r.evaluate()
        head = (
            f"{ev.verdict}: {r.successes}/{r.iterations} iterations succeeded "
            f"({r.success_rate:.2%})"
        )
        return head + (f"; {ev.reasons[0]}" if ev.reasons else "")

    def as_dict(self) -> dict[str, Any]:
        r = self.report
        ev = r.evaluate()
        starts = self._starts()
        violated = r.violations()
        return {
            "schema": SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "chaoskit_version": r.chaoskit_version,
            # verdict (Go-compatible names first)
            "verdict": ev.verdict.value,
            "verdict_reasons": list(ev.reasons),
            "summary": self.summary(),
            "passed": r.passed,
            "scenario": r.scenario,
            "scenario_name": r.scenario,
            "execution_time": iso_time(r.started_at),
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "duration": _r(r.duration),
            "seed": r.seed,
            "workers": r.workers,
            "interrupted": r.interrupted,
            "interrupt_reason": r.interrupt_reason,
            # statistics
            "iterations": r.iterations,
            "total_iterations": r.iterations,
            "successes": r.successes,
            "success_count": r.successes,
            "failed_iterations": r.failed_iterations,
            "failure_count": r.failed_iterations,
            "success_rate": r.success_rate,
            "avg_duration": _r(r.durations.mean),
            "durations": {
                k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(r.durations).items()
            },
            # violations by severity
            "critical_failures": [
                self._violation(v, starts) for v in violated if v.severity == "critical"
            ],
            "warnings": [self._violation(v, starts) for v in violated if v.severity == "warning"],
            "info_messages": [self._violation(v, starts) for v in violated if v.severity == "info"],
            "verdicts": {
                name: {**asdict(v), "verdict": "PASS" if v.passed else "FAIL"}
                for name, v in r.verdicts.items()
            },
            "analysis": self._analysis(),
            "thresholds": r.thresholds.to_dict(),
            # what happened
            "failures": [asdict(f) for f in r.failures],
            "failures_truncated": r.failures_truncated,
            "injections": r.injections,
            "failpoints": r.failpoints,
            "failpoints_never_registered": r.failpoints_never_registered,
            "max_depths": r.max_depths,
            "exceptions": r.exceptions,
            "panics_recovered": r.panics_recovered,
            "loops": r.loops,
            "leaks": r.leaks,
            "peak_rss": r.peak_rss,
            "peak_threads": r.peak_threads,
            "iteration_log": [
                {
                    "iteration": rec.iteration,
                    "started": _r(rec.started),
                    "duration": _r(rec.duration),
                    "ok": rec.ok,
                    "worker": rec.worker,
                    "error_type": rec.error_type,
                }
                for rec in r.iteration_log
            ],
            "iteration_log_sampled": r.iteration_log_sampled,
        }

    def render(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, default=repr)
