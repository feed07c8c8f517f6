"""Delay injectors: consulted by ``maybe_delay()`` / ``maybe_delay_async()``."""

from __future__ import annotations

import threading
import time

from chaoskit.context import IterationContext, RunContext
from chaoskit.errors import ConfigError
from chaoskit.injectors.base import BaseInjector
from chaoskit.units import parse_duration

__all__ = ["IntervalDelay", "RandomDelay", "interval_delay", "random_delay"]


def _probability(value: object, what: str = "probability") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} must be between 0 and 1, got {value!r}")
    return float(value)


class RandomDelay(BaseInjector):
    """Each ``maybe_delay()`` call sleeps uniformly in [min, max] (with ``probability``)."""

    kind = "random_delay"

    def __init__(
        self, min_delay: float | str, max_delay: float | str, probability: float = 1.0
    ) -> None:
        super().__init__()
        self.min = self._arg(lambda: parse_duration(min_delay, what="random_delay min"), 0.0)
        self.max = self._arg(lambda: parse_duration(max_delay, what="random_delay max"), 0.0)
        self.probability = self._arg(
            lambda: _probability(probability, "random_delay probability"), 0.0
        )
        if self.min > self.max:
            self._config_errors.append(
                ConfigError(f"random_delay min ({min_delay!r}) is greater than max ({max_delay!r})")
            )

    def delay_for(self, ctx: IterationContext) -> float | None:
        rng = ctx.rng
        if self.probability < 1.0 and rng.random() >= self.probability:
            return None
        self.count("delay")
        return rng.uniform(self.min, self.max)


class IntervalDelay(BaseInjector):
    """Once every ``interval`` seconds, the next ``maybe_delay()`` call sleeps ``delay``."""

    kind = "interval_delay"

    def __init__(self, delay: float | str, interval: float | str) -> None:
        super().__init__()
        self.delay = self._arg(lambda: parse_duration(delay, what="interval_delay delay"), 0.0)
        self.interval = self._arg(
            lambda: parse_duration(interval, what="interval_delay interval"), 1.0
        )
        if self.interval <= 0:
            self._config_errors.append(
                ConfigError(f"interval_delay interval must be > 0, got {interval!r}")
            )
        self._lock = threading.Lock()
        self._next = 0.0

    def start(self, ctx: RunContext) -> None:
        self._next = time.monotonic() + self.interval
        super().start(ctx)

    def delay_for(self, ctx: IterationContext) -> float | None:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return None
            self._next = now + self.interval
        self.count("delay")
        return self.delay


def random_delay(min: float | str, max: float | str, probability: float = 1.0) -> RandomDelay:
    """Delay each ``maybe_delay()`` by a uniform draw in [min, max] (Go: RandomDelay)."""
    return RandomDelay(min, max, probability)


def interval_delay(delay: float | str, interval: float | str) -> IntervalDelay:
    """Delay one ``maybe_delay()`` call by ``delay`` every ``interval`` seconds."""
    return IntervalDelay(delay, interval)
