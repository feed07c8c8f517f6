"""Memory validator: the process's resident set size (psutil) stays under a limit."""

from __future__ import annotations

import threading
import time

import psutil

from chaoskit.context import IterationContext, RunContext
from chaoskit.events import ResourceSample
from chaoskit.units import parse_size
from chaoskit.validators.base import BaseValidator, check_number

__all__ = ["MemoryLimit", "memory_limit"]


class MemoryLimit(BaseValidator):
    """Fails when RSS exceeds ``limit`` bytes (``"512MB"`` accepted).

    RSS is sampled after an iteration at most every ``interval`` seconds, and by a
    background sampler at the same interval so that a long iteration is watched too.
    """

    kind = "memory_limit"

    def __init__(self, limit: int | str, interval: float = 0.05) -> None:
        super().__init__()
        self.limit = self._arg(lambda: parse_size(limit, what="memory_limit limit"), 0)
        self.interval = self._arg(
            lambda: check_number(interval, "memory_limit interval", minimum=0.001), 0.05
        )
        self._proc = psutil.Process()
        self.peak = 0
        self._over: int | None = None
        self._last = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run: RunContext | None = None

    def _sample(self, iteration: int | None, run: RunContext) -> int:
        rss = int(self._proc.memory_info().rss)
        if rss > self.peak:
            self.peak = rss
            run.emit(ResourceSample(iteration=iteration, rss=rss))
        if rss > self.limit and self._over is None:
            self._over = rss
        return rss

    def start(self, run: RunContext) -> None:
        super().start(run)
        self._run = run
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="chaoskit-memory", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        run = self._run
        assert run is not None
        while not self._stop.wait(self.interval):
            self._sample(run.current_iteration, run)

    def after_iteration(self, ctx: IterationContext) -> str | None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._sample(ctx.iteration, ctx.run)
        over, self._over = self._over, None
        if over is not None:
            return f"RSS {over / 1e6:.1f} MB over the limit {self.limit / 1e6:.1f} MB"
        return None

    def finish(self, run: RunContext) -> str | None:
        self._sample(None, run)
        over, self._over = self._over, None
        if over is not None:
            return f"RSS {over / 1e6:.1f} MB over the limit {self.limit / 1e6:.1f} MB"
        return None

    def stop(self, run: RunContext) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        super().stop(run)


def memory_limit(limit: int | str, interval: float = 0.05) -> MemoryLimit:
    """The process RSS must stay under ``limit`` (Go: MemoryLimitValidator)."""
    return MemoryLimit(limit, interval)
