"""Timing validators (Go: SlowIterationValidator, ExecutionTimeValidator)."""

from __future__ import annotations

import threading
import time

from chaoskit._util import percentile
from chaoskit.context import IterationContext, RunContext
from chaoskit.errors import ConfigError
from chaoskit.units import parse_duration
from chaoskit.validators.base import BaseValidator, check_number

__all__ = ["ExecutionTime", "SlowIteration", "execution_time", "slow_iteration"]


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f}ms" if ms >= 1 else f"{ms:.3g}ms"


class SlowIteration(BaseValidator):
    """Flags each iteration slower than ``threshold`` seconds (a warning by default)."""

    kind = "slow_iteration"
    default_severity = "warning"

    def __init__(self, threshold: float | str) -> None:
        super().__init__()
        self.threshold = self._arg(
            lambda: parse_duration(threshold, what="slow_iteration threshold"), 0.0
        )
        self._t0: dict[int, float] = {}
        self.slow = 0

    def before_iteration(self, ctx: IterationContext) -> None:
        self._t0[ctx.worker] = time.perf_counter()

    def after_iteration(self, ctx: IterationContext) -> str | None:
        elapsed = time.perf_counter() - self._t0.pop(ctx.worker, time.perf_counter())
        if elapsed > self.threshold:
            self.slow += 1
            return f"iteration took {_ms(elapsed)} (threshold {_ms(self.threshold)})"
        return None


class ExecutionTime(BaseValidator):
    """The run's iteration durations stay within bounds.

    Each iteration must take at most ``max_time`` (and at least ``min_time``); at the end,
    the ``percentile`` of all iteration durations must also be within ``max_time``.
    """

    kind = "execution_time"

    def __init__(
        self, max_time: float | str, min_time: float | str = 0.0, percentile: float = 95.0
    ) -> None:
        super().__init__()
        self.max_time = self._arg(lambda: parse_duration(max_time, what="execution_time max"), 0.0)
        self.min_time = self._arg(lambda: parse_duration(min_time, what="execution_time min"), 0.0)
        self.percentile = self._arg(
            lambda: check_number(percentile, "execution_time percentile", minimum=0, maximum=100),
            95.0,
        )
        if self.min_time > self.max_time:
            self._config_errors.append(
                ConfigError(f"execution_time min ({min_time!r}) is greater than max ({max_time!r})")
            )
        self._t0: dict[int, float] = {}
        self._durations: list[float] = []
        self._lock = threading.Lock()

    def before_iteration(self, ctx: IterationContext) -> None:
        self._t0[ctx.worker] = time.perf_counter()

    def after_iteration(self, ctx: IterationContext) -> str | None:
        elapsed = time.perf_counter() - self._t0.pop(ctx.worker, time.perf_counter())
        with self._lock:
            self._durations.append(elapsed)
        if elapsed > self.max_time:
            return f"iteration took {_ms(elapsed)}, over the maximum {_ms(self.max_time)}"
        if elapsed < self.min_time:
            return f"iteration took {_ms(elapsed)}, under the minimum {_ms(self.min_time)}"
        return None

    def finish(self, run: RunContext) -> str | None:
        with self._lock:
            data = sorted(self._durations)
        if not data:
            return None
        p = percentile(data, self.percentile)
        if p > self.max_time:
            return f"p{self.percentile:g} iteration time {_ms(p)} over the maximum {_ms(self.max_time)}"
        return None


def slow_iteration(threshold: float | str) -> SlowIteration:
    """Flag iterations slower than ``threshold`` (seconds or ``"250ms"``)."""
    return SlowIteration(threshold)


def execution_time(
    max: float | str, min: float | str = 0.0, percentile: float = 95.0
) -> ExecutionTime:
    """Iterations must take between ``min`` and ``max`` (and so must their ``percentile``)."""
    return ExecutionTime(max, min, percentile)
