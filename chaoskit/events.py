"""Typed events and the event bus.

Everything observable in a run is an :class:`Event` published on one :class:`EventBus`:
the executor's iterations and steps, injections, failpoint hits and firings, exceptions,
recursion depths, leaks, resource samples and validator verdicts. Validators subscribe to
it, the report is a fold over it, and :class:`JsonlRecorder` writes it as JSON Lines so a
crashed run still leaves its history (and ``chaoskit report`` can rebuild any report).

Events are slotted dataclasses, treated as immutable once published (they are not
``frozen=True`` only because a frozen dataclass costs twice as much to build, and the
executor builds several per iteration); ``kind`` names the type on the wire.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventBus",
    "ExceptionRaised",
    "FailpointFired",
    "FailpointHit",
    "InjectionApplied",
    "InjectorStarted",
    "InjectorStopped",
    "IterationFinished",
    "IterationStarted",
    "JsonlRecorder",
    "LoopDetected",
    "PanicRecorded",
    "RecursionDepth",
    "ResourceSample",
    "RunFinished",
    "RunStarted",
    "StepFinished",
    "StepStarted",
    "TaskLeaked",
    "ThreadLeaked",
    "ValidatorVerdict",
    "event_from_dict",
    "read_events",
]


def _log_handler_failure(handler: object) -> None:
    import structlog  # imported on first use: `import chaoskit` stays light

    structlog.get_logger("chaoskit.events").exception(
        "event handler failed; unsubscribed", handler=repr(handler)
    )


EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(kw_only=True, slots=True)
class Event:
    """Base of every event. ``ts`` is wall-clock seconds (``time.time()``)."""

    kind: ClassVar[str] = "event"
    ts: float = field(default_factory=time.time)
    iteration: int | None = None

    def __init_subclass__(cls) -> None:
        # (no zero-argument super() here: slots=True recreates the class)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            EVENT_TYPES[kind] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out


# --- run and iteration lifecycle -------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run.started"
    scenario: str
    seed: int
    workers: int = 1
    repeat: int | None = None
    run_for: float | None = None
    injectors: tuple[str, ...] = ()
    validators: tuple[str, ...] = ()
    severities: dict[str, str] = field(default_factory=dict)
    chaoskit_version: str = ""
    # the verdict thresholds (Thresholds.to_dict()), so `chaoskit report` judges alike
    thresholds: dict[str, Any] | None = None


@dataclass(kw_only=True, slots=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run.finished"
    scenario: str
    duration: float
    interrupted: bool = False
    reason: str | None = None


@dataclass(kw_only=True, slots=True)
class IterationStarted(Event):
    kind: ClassVar[str] = "iteration.started"
    worker: int = 0


@dataclass(kw_only=True, slots=True)
class IterationFinished(Event):
    kind: ClassVar[str] = "iteration.finished"
    worker: int = 0
    duration: float
    ok: bool
    step: str | None = None
    error: str | None = None
    error_type: str | None = None
    violations: tuple[str, ...] = ()


@dataclass(kw_only=True, slots=True)
class StepStarted(Event):
    kind: ClassVar[str] = "step.started"
    step: str


@dataclass(kw_only=True, slots=True)
class StepFinished(Event):
    kind: ClassVar[str] = "step.finished"
    step: str
    duration: float
    ok: bool
    error: str | None = None
    error_type: str | None = None


# --- what injectors and failpoints did -------------------------------------------------


@dataclass(kw_only=True, slots=True)
class InjectorStarted(Event):
    kind: ClassVar[str] = "injector.started"
    injector: str


@dataclass(kw_only=True, slots=True)
class InjectorStopped(Event):
    kind: ClassVar[str] = "injector.stopped"
    injector: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True, slots=True)
class InjectionApplied(Event):
    """One fault applied: ``action`` is delay, panic, error, cpu_stress, toxic, ..."""

    kind: ClassVar[str] = "injection.applied"
    injector: str
    action: str
    value: float | None = None
    detail: str | None = None


@dataclass(kw_only=True, slots=True)
class FailpointHit(Event):
    kind: ClassVar[str] = "failpoint.hit"
    name: str


@dataclass(kw_only=True, slots=True)
class FailpointFired(Event):
    kind: ClassVar[str] = "failpoint.fired"
    name: str
    term: str
    action: str


# --- what the code under test did ------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class ExceptionRaised(Event):
    """An exception seen by the probe inside a scope; ``handled`` once known."""

    kind: ClassVar[str] = "exception.raised"
    function: str
    exc_type: str
    message: str = ""
    handled: bool | None = None
    injected: bool = False


@dataclass(kw_only=True, slots=True)
class PanicRecorded(Event):
    """``record_panic(exc)``: code under test caught (recovered from) an exception."""

    kind: ClassVar[str] = "panic.recorded"
    exc_type: str
    message: str = ""
    recovered: bool = True
    injected: bool = False


@dataclass(kw_only=True, slots=True)
class RecursionDepth(Event):
    """A new maximum recursion depth for ``function`` in this iteration."""

    kind: ClassVar[str] = "recursion.depth"
    function: str
    depth: int
    source: str = "record"


@dataclass(kw_only=True, slots=True)
class ThreadLeaked(Event):
    kind: ClassVar[str] = "thread.leaked"
    count: int
    names: tuple[str, ...] = ()


@dataclass(kw_only=True, slots=True)
class TaskLeaked(Event):
    kind: ClassVar[str] = "task.leaked"
    count: int
    names: tuple[str, ...] = ()


@dataclass(kw_only=True, slots=True)
class ResourceSample(Event):
    kind: ClassVar[str] = "resource.sample"
    rss: int | None = None
    threads: int | None = None
    tasks: int | None = None


@dataclass(kw_only=True, slots=True)
class LoopDetected(Event):
    """A hang: the iteration ran past the watchdog's limit."""

    kind: ClassVar[str] = "loop.detected"
    elapsed: float
    thread: str
    location: str
    stack: tuple[str, ...] = ()
    function: str | None = None
    loop_iterations: int | None = None


@dataclass(kw_only=True, slots=True)
class ValidatorVerdict(Event):
    """A validator's judgement; ``iteration`` is None for the end-of-run verdict."""

    kind: ClassVar[str] = "validator.verdict"
    validator: str
    passed: bool
    message: str = ""
    severity: str = "critical"
    final: bool = False


# --- (de)serialisation -----------------------------------------------------------------

_TUPLE_FIELDS: dict[type[Event], frozenset[str]] = {}


def _tuple_fields(cls: type[Event]) -> frozenset[str]:
    cached = _TUPLE_FIELDS.get(cls)
    if cached is None:
        cached = frozenset(
            f.name for f in dataclasses.fields(cls) if str(f.type).startswith("tuple")
        )
        _TUPLE_FIELDS[cls] = cached
    return cached


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output; unknown keys are ignored."""
    kind = data.get("kind")
    cls = EVENT_TYPES.get(str(kind))
    if cls is None:
        from chaoskit.errors import ConfigError

        raise ConfigError(f"unknown event kind {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    tuples = _tuple_fields(cls)
    kwargs = {
        k: (tuple(v) if k in tuples and isinstance(v, list) else v)
        for k, v in data.items()
        if k in names
    }
    return cls(**kwargs)  # type: ignore[arg-type]


def read_events(path: str | Path) -> Iterator[Event]:
    """Read a JSON Lines event log; a torn last line (a crashed run) is skipped."""
    from chaoskit.errors import ConfigError

    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if lineno == len(lines):
                return
            raise ConfigError(f"bad JSON at line {lineno}: {exc.msg}", source=str(path)) from None
        if not isinstance(data, dict):
            raise ConfigError(f"line {lineno} is not a JSON object", source=str(path))
        try:
            event = event_from_dict(data)
        except (TypeError, ConfigError) as exc:  # a missing field, an unknown kind
            message = exc.message if isinstance(exc, ConfigError) else str(exc)
            raise ConfigError(f"bad event at line {lineno}: {message}", source=str(path)) from None
        yield event


# --- the bus ---------------------------------------------------------------------------

E = TypeVar("E", bound=Event)
Handler = Callable[[Event], None]


class EventBus:
    """A synchronous, thread-safe publish/subscribe bus.

    Handlers run in the publishing thread. A handler that raises is logged and removed:
    one broken subscriber never breaks the run or the code under test.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: tuple[tuple[Handler, tuple[type[Event], ...] | None], ...] = ()
        self._by_type: dict[type[Event], tuple[tuple[Handler, object], ...]] = {}
        self.published = 0

    def subscribe(
        self, handler: Handler, kinds: Iterable[type[Event]] | None = None
    ) -> Callable[[], None]:
        """Call ``handler`` for each event (of ``kinds`` only, if given). Returns unsubscribe."""
        entry = (handler, tuple(kinds) if kinds is not None else None)
        with self._lock:
            self._handlers = (*self._handlers, entry)
            self._by_type = {}

        def unsubscribe() -> None:
            self._remove(entry)

        return unsubscribe

    def _remove(self, entry: object) -> None:
        with self._lock:
            self._handlers = tuple(h for h in self._handlers if h is not entry)
            self._by_type = {}

    def _handlers_for(self, cls: type[Event]) -> tuple[tuple[Handler, object], ...]:
        found = self._by_type.get(cls)
        if found is None:
            found = tuple(
                (h, entry)
                for entry in self._handlers
                for h, kinds in (entry,)
                if kinds is None or issubclass(cls, kinds)
            )
            self._by_type[cls] = found
        return found

    def wants(self, cls: type[Event]) -> bool:
        """True if any handler would receive an event of type ``cls`` (skip building it if not)."""
        return bool(self._handlers_for(cls))

    def publish(self, event: Event) -> None:
        self.published += 1
        for handler, entry in self._handlers_for(type(event)):
            try:
                handler(event)
            except Exception:
                _log_handler_failure(handler)
                self._remove(entry)


def _json_default(obj: object) -> object:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    return repr(obj)


class JsonlRecorder:
    """Writes every event of a bus as one JSON line; flushes after each iteration."""

    def __init__(self, target: str | Path | IO[str]) -> None:
        if isinstance(target, (str, Path)):
            path = Path(target)
            if path.parent and not path.parent.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115
            self._owns = True
        else:
            self._fh = target
            self._owns = False
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, bus: EventBus) -> JsonlRecorder:
        self._unsubscribe = bus.subscribe(self.write)
        return self

    def write(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), default=_json_default, separators=(",", ":"))
        with self._lock:
            if self._fh.closed:
                return
            self._fh.write(line + "\n")
            if isinstance(event, (RunStarted, IterationFinished, RunFinished, LoopDetected)):
                self._fh.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            if self._fh.closed:
                return
            self._fh.flush()
            if self._owns:
                self._fh.close()


def dumps_events(events: Iterable[Event]) -> str:
    """Events as a JSON Lines string (tests, golden files)."""
    buf = io.StringIO()
    rec = JsonlRecorder(buf)
    for ev in events:
        rec.write(ev)
    return buf.getvalue()
