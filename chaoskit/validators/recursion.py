"""Recursion depth validator, fed by ``record_recursion_depth`` or the probe."""

from __future__ import annotations

import threading

from chaoskit.context import IterationContext, RunContext
from chaoskit.events import Event, RecursionDepth
from chaoskit.validators.base import BaseValidator, check_int

__all__ = ["RecursionDepthLimit", "recursion_depth_limit"]


class RecursionDepthLimit(BaseValidator):
    """Fails an iteration in which any function recursed deeper than ``limit``."""

    kind = "recursion_depth_limit"
    events = (RecursionDepth,)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = self._arg(
            lambda: check_int(limit, "recursion_depth_limit limit", minimum=1), 1
        )
        self._lock = threading.Lock()
        self._worst: dict[int | None, tuple[str, int]] = {}
        self.max_depths: dict[str, int] = {}

    def on_event(self, event: Event) -> None:
        assert isinstance(event, RecursionDepth)
        with self._lock:
            if event.depth > self.max_depths.get(event.function, 0):
                self.max_depths[event.function] = event.depth
            if event.depth > self.limit:
                worst = self._worst.get(event.iteration)
                if worst is None or event.depth > worst[1]:
                    self._worst[event.iteration] = (event.function, event.depth)

    def after_iteration(self, ctx: IterationContext) -> str | None:
        with self._lock:
            worst = self._worst.pop(ctx.iteration, None)
        if worst is None:
            return None
        return f"{worst[0]} recursed to depth {worst[1]} (limit {self.limit})"

    def finish(self, run: RunContext) -> str | None:
        # depths reported outside any iteration (e.g. by the probe between iterations)
        with self._lock:
            worst = self._worst.pop(None, None)
        if worst is None:
            return None
        return f"{worst[0]} recursed to depth {worst[1]} (limit {self.limit})"


def recursion_depth_limit(limit: int) -> RecursionDepthLimit:
    """No function may recurse deeper than ``limit`` (Go: RecursionDepthLimit)."""
    return RecursionDepthLimit(limit)
