"""Panic recovery validator (Go: PanicRecoveryValidator)."""

from __future__ import annotations

import threading

from chaoskit.context import IterationContext, RunContext
from chaoskit.events import Event, ExceptionRaised, InjectionApplied, PanicRecorded, StepFinished
from chaoskit.validators.base import BaseValidator, check_int

__all__ = ["PanicRecovery", "panic_recovery"]

_PANIC = "ChaosPanic"


class PanicRecovery(BaseValidator):
    """Injected panics must be recovered by the code under test.

    A panic is *unrecovered* when a ``ChaosPanic`` escapes a step, when
    ``record_panic(exc, recovered=False)`` says so, or when the probe sees it escape its
    scope; it is *recovered* when ``record_panic(exc)`` reports it or the probe sees it
    handled. Iterations fail once more than ``max_unrecovered`` panics went unrecovered.
    A panic both recorded and seen by the probe counts once (per iteration, the larger of
    the two counts).
    """

    kind = "panic_recovery"
    default_severity = "warning"
    events = (StepFinished, PanicRecorded, ExceptionRaised, InjectionApplied)

    def __init__(self, max_unrecovered: int = 0) -> None:
        super().__init__()
        self.max_unrecovered = self._arg(
            lambda: check_int(max_unrecovered, "panic_recovery max_unrecovered", minimum=0), 0
        )
        self._lock = threading.Lock()
        self.injected = 0
        self.unrecovered = 0
        self._recorded: dict[int | None, int] = {}  # record_panic(exc) per iteration
        self._probed: dict[int | None, int] = {}  # handled inside a probe scope
        self._pending: dict[int | None, list[str]] = {}

    def on_event(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, InjectionApplied) and event.action == "panic":
                self.injected += 1
            elif isinstance(event, StepFinished) and event.error_type == _PANIC:
                self._escaped(event.iteration, f"ChaosPanic escaped step {event.step!r}")
            elif isinstance(event, PanicRecorded):
                if event.recovered:
                    self._recorded[event.iteration] = self._recorded.get(event.iteration, 0) + 1
                else:
                    self._escaped(
                        event.iteration, f"{event.exc_type} not recovered: {event.message}"
                    )
            elif isinstance(event, ExceptionRaised) and event.exc_type == _PANIC and event.handled:
                self._probed[event.iteration] = self._probed.get(event.iteration, 0) + 1

    @property
    def recovered(self) -> int:
        """Recovered panics; one seen by both record_panic and the probe counts once."""
        keys = self._recorded.keys() | self._probed.keys()
        return sum(max(self._recorded.get(k, 0), self._probed.get(k, 0)) for k in keys)

    def _escaped(self, iteration: int | None, message: str) -> None:
        self.unrecovered += 1
        self._pending.setdefault(iteration, []).append(message)

    def after_iteration(self, ctx: IterationContext) -> str | None:
        with self._lock:
            messages = self._pending.pop(ctx.iteration, None)
            over = self.unrecovered > self.max_unrecovered
        if messages and over:
            return f"{messages[0]} ({self.unrecovered} unrecovered so far, allowed {self.max_unrecovered})"
        return None

    def finish(self, run: RunContext) -> str | None:
        if self.unrecovered > self.max_unrecovered:
            return (
                f"{self.unrecovered} of {max(self.injected, self.unrecovered)} injected panic(s) "
                f"unrecovered (allowed {self.max_unrecovered}); {self.recovered} recovered"
            )
        return None


def panic_recovery(max_unrecovered: int = 0) -> PanicRecovery:
    """Injected panics must be recovered (at most ``max_unrecovered`` may escape)."""
    return PanicRecovery(max_unrecovered)
