"""OpenTelemetry traces for chaos runs (``pip install chaoskit[otel]``).

:class:`OtelTracer` is an executor subscriber (``ck.Executor(subscribers=[tracer])``) that
turns the event stream into spans: one ``chaoskit.run`` span per run, a child
``chaoskit.iteration`` span per iteration and a ``chaoskit.step`` span per step under it.
Injected faults, failpoint firings, exceptions and validator violations become span events
on the step (or iteration) they happened in; failures set the span status to ERROR. Span
times are the events' own timestamps, so :meth:`OtelTracer.replay` turns a recorded
``events.jsonl`` into the same trace after the fact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from chaoskit.events import (
    Event,
    EventBus,
    ExceptionRaised,
    FailpointFired,
    InjectionApplied,
    IterationFinished,
    IterationStarted,
    LoopDetected,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ValidatorVerdict,
)

try:
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "chaoskit's OpenTelemetry tracer needs opentelemetry-api: pip install 'chaoskit[otel]'"
    ) from exc

__all__ = ["OtelTracer"]


def _ns(ts: float) -> int:
    return int(ts * 1_000_000_000)


class OtelTracer:
    """Spans per run, iteration and step; faults as span events.

    ``tracer_provider`` defaults to the global one (``trace.get_tracer_provider()``).
    """

    def __init__(self, tracer_provider: Any = None, *, name: str = "chaoskit") -> None:
        from chaoskit import __version__

        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self.tracer = provider.get_tracer(name, __version__)
        self._run: Span | None = None
        self._iterations: dict[int, Span] = {}
        self._steps: dict[int, Span] = {}
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    # --- the subscriber protocol ------------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        self._unsubscribe = bus.subscribe(self.on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._end_all()

    def __enter__(self) -> OtelTracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def replay(self, events: Iterable[Event]) -> None:
        """Emit the spans of a recorded run (``read_events("events.jsonl")``)."""
        for ev in events:
            self.on_event(ev)
        self._end_all()

    # --- folding events into spans ----------------------------------------------------

    def _context(self, parent: Span | None) -> Any:
        return trace.set_span_in_context(parent) if parent is not None else None

    def _current(self, iteration: int | None) -> Span | None:
        if iteration is None:
            return self._run
        return self._steps.get(iteration) or self._iterations.get(iteration) or self._run

    def on_event(self, ev: Event) -> None:
        with self._lock:
            if isinstance(ev, RunStarted):
                self._run = self.tracer.start_span(
                    "chaoskit.run",
                    kind=SpanKind.INTERNAL,
                    start_time=_ns(ev.ts),
                    attributes={
                        "chaoskit.scenario": ev.scenario,
                        "chaoskit.seed": ev.seed,
                        "chaoskit.workers": ev.workers,
                        "chaoskit.injectors": list(ev.injectors),
                        "chaoskit.validators": list(ev.validators),
                    },
                )
            elif isinstance(ev, IterationStarted) and ev.iteration is not None:
                self._iterations[ev.iteration] = self.tracer.start_span(
                    "chaoskit.iteration",
                    context=self._context(self._run),
                    start_time=_ns(ev.ts),
                    attributes={"chaoskit.iteration": ev.iteration, "chaoskit.worker": ev.worker},
                )
            elif isinstance(ev, StepStarted) and ev.iteration is not None:
                self._steps[ev.iteration] = self.tracer.start_span(
                    f"chaoskit.step {ev.step}",
                    context=self._context(self._iterations.get(ev.iteration, self._run)),
                    start_time=_ns(ev.ts),
                    attributes={"chaoskit.step": ev.step, "chaoskit.iteration": ev.iteration},
                )
            elif isinstance(ev, StepFinished) and ev.iteration is not None:
                span = self._steps.pop(ev.iteration, None)
                if span is not None:
                    if not ev.ok:
                        span.set_status(Status(StatusCode.ERROR, ev.error or ev.error_type))
                    span.end(end_time=_ns(ev.ts))
            elif isinstance(ev, IterationFinished) and ev.iteration is not None:
                step = self._steps.pop(ev.iteration, None)
                if step is not None:
                    step.end(end_time=_ns(ev.ts))
                span = self._iterations.pop(ev.iteration, None)
                if span is not None:
                    span.set_attribute("chaoskit.ok", ev.ok)
                    if not ev.ok:
                        span.set_attribute("chaoskit.failed_step", ev.step or "")
                        span.set_status(Status(StatusCode.ERROR, ev.error or ev.error_type))
                    span.end(end_time=_ns(ev.ts))
            elif isinstance(ev, InjectionApplied):
                attrs: dict[str, Any] = {
                    "chaoskit.injector": ev.injector,
                    "chaoskit.action": ev.action,
                }
                if ev.value is not None:
                    attrs["chaoskit.value"] = ev.value
                if ev.detail:
                    attrs["chaoskit.detail"] = ev.detail
                self._event(ev, "chaoskit.injection", attrs)
            elif isinstance(ev, FailpointFired):
                self._event(
                    ev,
                    "chaoskit.failpoint",
                    {"chaoskit.failpoint": ev.name, "chaoskit.term": ev.term,
                     "chaoskit.action": ev.action},
                )  # fmt: skip
            elif isinstance(ev, ExceptionRaised):
                self._event(
                    ev,
                    "exception",
                    {"exception.type": ev.exc_type, "exception.message": ev.message,
                     "chaoskit.function": ev.function, "chaoskit.injected": ev.injected},
                )  # fmt: skip
            elif isinstance(ev, ValidatorVerdict) and not ev.passed:
                self._event(
                    ev,
                    "chaoskit.violation",
                    {"chaoskit.validator": ev.validator, "chaoskit.severity": ev.severity,
                     "chaoskit.message": ev.message},
                )  # fmt: skip
            elif isinstance(ev, LoopDetected):
                self._event(
                    ev,
                    "chaoskit.hang",
                    {"chaoskit.location": ev.location, "chaoskit.elapsed": ev.elapsed},
                )
            elif isinstance(ev, RunFinished) and self._run is not None:
                self._run.set_attribute("chaoskit.interrupted", ev.interrupted)
                if ev.interrupted:
                    self._run.set_status(Status(StatusCode.ERROR, ev.reason or "interrupted"))
                self._run.end(end_time=_ns(ev.ts))
                self._run = None

    def _event(self, ev: Event, name: str, attrs: dict[str, Any]) -> None:
        span = self._current(ev.iteration)
        if span is not None:
            span.add_event(name, attributes=attrs, timestamp=_ns(ev.ts))

    def _end_all(self) -> None:
        """End spans left open (a crashed or torn run), innermost first."""
        with self._lock:
            for spans in (self._steps, self._iterations):
                for span in spans.values():
                    span.end()
                spans.clear()
            if self._run is not None:
                self._run.end()
                self._run = None
