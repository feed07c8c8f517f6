"""JSON report: a documented, versioned schema (see docs/report-schema.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from chaoskit.report.model import Report

__all__ = ["SCHEMA_VERSION", "JsonReport"]

SCHEMA_VERSION = "1.0"


class JsonReport:
    """Renders a :class:`Report` as JSON."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def as_dict(self) -> dict[str, Any]:
        r = self.report
        return {
            "schema": "chaoskit.report",
            "schema_version": SCHEMA_VERSION,
            "chaoskit_version": r.chaoskit_version,
            "scenario": r.scenario,
            "seed": r.seed,
            "workers": r.workers,
            "passed": r.passed,
            "interrupted": r.interrupted,
            "interrupt_reason": r.interrupt_reason,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "duration": r.duration,
            "iterations": r.iterations,
            "successes": r.successes,
            "failed_iterations": r.failed_iterations,
            "success_rate": r.success_rate,
            "failures": [asdict(f) for f in r.failures],
            "verdicts": {name: asdict(v) for name, v in r.verdicts.items()},
            "injections": r.injections,
            "failpoints": r.failpoints,
            "durations": asdict(r.durations),
            "max_depths": r.max_depths,
            "exceptions": r.exceptions,
            "panics_recovered": r.panics_recovered,
            "loops": r.loops,
            "leaks": r.leaks,
            "peak_rss": r.peak_rss,
            "peak_threads": r.peak_threads,
        }

    def render(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, default=repr)
