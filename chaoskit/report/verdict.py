"""Judging a report: the verdict with its reasons, and the top error patterns.

Pure functions of a :class:`~chaoskit.report.model.Report` and its
:class:`~chaoskit.thresholds.Thresholds`, so a report rebuilt from an event log is judged
exactly like the live one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaoskit.thresholds import Verdict

if TYPE_CHECKING:
    from chaoskit.report.model import Failure, Report, ValidatorResult

__all__ = [
    "ErrorPattern",
    "Evaluation",
    "PatternCounter",
    "bare_message",
    "evaluate",
    "fold_numbers",
    "top_errors",
]


@dataclass(frozen=True)
class Evaluation:
    """A verdict and the reasons for it (empty for PASS), worst first."""

    verdict: Verdict
    reasons: tuple[str, ...] = ()


def _violated(report: Report, severity: str) -> list[ValidatorResult]:
    return [v for v in report.verdicts.values() if not v.passed and v.severity == severity]


def evaluate(report: Report) -> Evaluation:
    """Apply the report's thresholds: FAIL beats UNSTABLE beats PASS."""
    t = report.thresholds
    fail: list[str] = []
    unstable: list[str] = []
    if report.interrupted:
        fail.append(f"run interrupted ({report.interrupt_reason or 'stopped'})")
    if report.iterations == 0:
        fail.append("no iteration completed")
    else:
        if report.success_rate < t.min_success_rate:
            fail.append(
                f"success rate {report.success_rate:.2%} is under the minimum "
                f"{t.min_success_rate:.2%}"
            )
        mfi = t.max_failed_iterations
        if mfi is not None and report.failed_iterations > mfi:
            fail.append(
                f"{report.failed_iterations} failed iteration(s), more than the {mfi} allowed"
            )
    for v in _violated(report, "critical"):
        fail.append(f"critical validator {v.name!r} violated: {v.message or 'no message'}")
    warnings = _violated(report, "warning")
    if t.require_all_validators:
        for v in warnings + _violated(report, "info"):
            fail.append(
                f"validator {v.name!r} violated and all validators must pass: "
                f"{v.message or 'no message'}"
            )
    else:
        for v in warnings:
            unstable.append(f"warning validator {v.name!r} violated: {v.message or 'no message'}")
    if fail:
        return Evaluation(Verdict.FAIL, tuple(fail + unstable))
    if unstable:
        return Evaluation(Verdict.UNSTABLE, tuple(unstable))
    return Evaluation(Verdict.PASS)


_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")


def bare_message(error: str, error_type: str | None) -> str:
    """``error`` without a leading ``"<error_type>: "`` (the type is shown on its own)."""
    if error_type:
        for prefix in (f"{error_type}: ", f"{error_type.rsplit('.', 1)[-1]}: "):
            if error.startswith(prefix):
                return error[len(prefix) :]
    return error


def fold_numbers(message: str) -> str:
    """``"timeout after 25 ms (0x7f3a)"`` -> ``"timeout after N ms (N)"``."""
    return _NUMBER.sub("N", _HEX.sub("N", message))


@dataclass(frozen=True)
class ErrorPattern:
    """Failures whose messages agree once numbers are folded."""

    pattern: str
    count: int
    error_type: str | None = None
    first_iteration: int | None = None
    last_iteration: int | None = None
    steps: tuple[str, ...] = ()
    examples: tuple[str, ...] = field(default_factory=tuple)


class _Stats:
    __slots__ = ("count", "examples", "first", "last", "steps")

    def __init__(self, iteration: int) -> None:
        self.count = 0
        self.first = iteration
        self.last = iteration
        self.steps: list[str] = []
        self.examples: list[str] = []


class PatternCounter:
    """Folds failures into error patterns incrementally (the report builder feeds it).

    At most ``max_patterns`` distinct patterns are tracked; failures with further new
    patterns are counted under ``"(other patterns)"`` so memory stays bounded.
    """

    OTHER = (None, "(other patterns)")

    def __init__(self, max_patterns: int = 1000) -> None:
        self.max_patterns = max_patterns
        self._stats: dict[tuple[str | None, str], _Stats] = {}

    def add(self, f: Failure) -> None:
        message = bare_message(f.error, f.error_type)
        key = (f.error_type, fold_numbers(message or "(no message)"))
        st = self._stats.get(key)
        if st is None:
            if len(self._stats) >= self.max_patterns:
                key = self.OTHER
                st = self._stats.get(key)
            if st is None:
                st = self._stats[key] = _Stats(f.iteration)
        st.count += 1
        st.first = min(st.first, f.iteration)
        st.last = max(st.last, f.iteration)
        where = f.step or "(validators)"
        if where not in st.steps and len(st.steps) < 10:
            st.steps.append(where)
        if len(st.examples) < 3 and message not in st.examples:
            st.examples.append(message)

    def top(self, n: int | None = None) -> list[ErrorPattern]:
        ranked = sorted(self._stats.items(), key=lambda kv: (-kv[1].count, kv[1].first))
        return [
            ErrorPattern(
                pattern=key[1],
                count=st.count,
                error_type=key[0],
                first_iteration=st.first,
                last_iteration=st.last,
                steps=tuple(st.steps),
                examples=tuple(st.examples),
            )
            for key, st in ranked[:n]
        ]


def top_errors(report: Report, n: int = 5) -> list[ErrorPattern]:
    """The ``n`` most frequent error patterns among the failed iterations.

    A built report carries them for every failed iteration (``report.error_patterns``);
    otherwise they are counted from ``report.failures``.
    """
    if report.error_patterns:
        return report.error_patterns[:n]
    counter = PatternCounter()
    for f in sorted(report.failures, key=lambda f: f.iteration):
        counter.add(f)
    return counter.top(n)
