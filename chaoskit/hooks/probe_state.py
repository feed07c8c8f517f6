"""What the probe measures, independent of the backend that feeds it.

Every backend keeps one :class:`ThreadState` per thread: the stack of in-scope code objects
that are running right now (a suspended generator or coroutine frame is popped when it
yields and pushed again when it resumes, so an asyncio task's depth is rebuilt on every
step and tasks never add up), the position of each function's outermost frame on that
stack, and the deepest depth seen since the last iteration started.

Depth is measured as a chain: when ``f`` is entered, its depth is the number of in-scope
frames from ``f``'s outermost frame on the stack to the new frame, inclusive. Direct
recursion ``f -> f -> f`` is 3; mutual recursion ``even -> odd -> even`` is one chain of
3 for ``even`` (and 2 for ``odd``, whose outermost frame is one higher); a function that
does not recurse has depth 1. Frames outside the scope are not counted.

The backends do the hot bookkeeping inline (or in C, see probe_core.py); this module holds
the slow paths they call when something new happens (a new maximum, an exception) and
publishes events.
"""

from __future__ import annotations

import logging
import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from chaoskit import context
from chaoskit.errors import ChaosError, ChaosPanic
from chaoskit.events import Event, EventBus, ExceptionRaised, RecursionDepth
from chaoskit.hooks.probe_scope import code_name

__all__ = ["MIN_EVENT_DEPTH", "Pending", "Recorder", "ThreadState", "ThreadStateLike", "log"]


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (pytest swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _make_logger() -> Any:
    """The probe's logger, settings fixed here: stderr, info and above, never stdout (the
    probe runs inside other people's programs, whose output must stay theirs)."""
    return structlog.wrap_logger(
        structlog.PrintLogger(_Stderr()),  # type: ignore[arg-type]
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_name="chaoskit.probe",
    )


log = _make_logger()
_log = log

# Depth events start at 2: a function that does not recurse is not worth an event.
MIN_EVENT_DEPTH = 2
# Keep at most this many exception records on the probe (events are not capped).
MAX_EXCEPTION_RECORDS = 10_000
# Publish at most this many exception events per iteration (code that uses exceptions for
# control flow would otherwise flood the event log); injected faults are always published.
MAX_EXCEPTION_EVENTS_PER_ITERATION = 1_000
_IGNORED = (StopIteration, StopAsyncIteration, GeneratorExit)
_INJECTED = (ChaosPanic, ChaosError)


class Pending:
    """An exception seen inside the scope whose fate (handled or escaped) is not known yet."""

    __slots__ = ("depth", "exc", "function", "handled", "iteration")

    def __init__(self, exc: BaseException, function: str, iteration: int | None) -> None:
        self.exc = exc
        self.function = function
        self.iteration = iteration
        self.handled = False
        # stack length of the frame that (tentatively) handled it
        self.depth = 0


class ThreadStateLike(Protocol):
    """What the :class:`Recorder` uses of a thread's state: :class:`ThreadState` here, or the
    C core's ``_probe_speedups.ThreadState``, which keeps the per-function info in C."""

    @property
    def ident(self) -> int: ...

    @property
    def stack(self) -> list[types.CodeType]: ...

    exc: Pending | None

    def resync_pop(self, code: types.CodeType) -> None: ...

    def reset_peaks(self) -> None: ...


class ThreadState:
    """One thread's view: in-scope stack, per-function info, pending exception.

    ``info[id(code)]`` is ``[outermost position, peak this iteration]``. Keys are
    ``id(code)``: hashing a code object costs more than the rest of a push (the probe keeps
    the code objects alive, so their ids cannot be reused while it runs). The outermost
    position is not cleaned up when frames leave: a push checks that the position is still
    on the stack and still holds that code, and otherwise starts a new chain there. So a
    pop is only a list pop. (When the outermost frame of a code leaves, everything above it
    has left too; a position that passes the check therefore is the outermost one.)
    """

    __slots__ = ("__weakref__", "exc", "ident", "info", "stack")

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.stack: list[types.CodeType] = []
        self.info: dict[int, list[int]] = {}
        self.exc: Pending | None = None

    def resync_pop(self, code: types.CodeType) -> None:
        """A frame left that is not on top: drop it and anything above it, if it is known.

        A frame that was already running when the probe started is not on the stack and is
        ignored; frames above a known one were lost (which the backends avoid) and go too.
        """
        stack = self.stack
        for pos in range(len(stack) - 1, -1, -1):
            if stack[pos] is code:
                del stack[pos:]
                return

    def reset_peaks(self) -> None:
        """A new iteration starts: every function's peak depth is 0 again."""
        for entry in list(self.info.values()):
            entry[1] = 0


class Recorder:
    """The backend-neutral measurement model of one probe: maxima, exceptions, events."""

    def __init__(self, names: dict[types.CodeType, str], bus: EventBus | None) -> None:
        self.names = names
        self.bus = bus
        self._lock = threading.Lock()
        self._states: weakref.WeakSet[ThreadStateLike] = weakref.WeakSet()
        self._max: dict[str, int] = {}
        self._iter_max: dict[int | None, dict[str, int]] = {}
        self._iter_exceptions: dict[int | None, int] = {}
        self.iteration: int | None = None
        self.exceptions: list[ExceptionRaised] = []
        self.failed: str | None = None
        self.on_failure: Callable[[], None] | None = None

    # --- threads ------------------------------------------------------------------------

    def new_thread_state(self) -> ThreadState:
        st = ThreadState(threading.get_ident())
        self.register(st)
        return st

    def register(self, st: ThreadStateLike) -> None:
        """Know ``st`` (weakly: it lives as long as its thread and backend keep it)."""
        with self._lock:
            self._states.add(st)

    def states(self) -> list[ThreadStateLike]:
        with self._lock:
            return list(self._states)

    # --- iterations (fed from the bus) --------------------------------------------------

    def iteration_started(self, iteration: int | None) -> None:
        self.iteration = iteration
        for st in self.states():
            st.reset_peaks()

    def iteration_finished(self, iteration: int | None) -> None:
        for st in self.states():
            pending = st.exc
            if pending is not None and pending.iteration == iteration:
                st.exc = None
                self.resolve(pending, handled=pending.handled)
        with self._lock:
            self._iter_max.pop(iteration, None)
            self._iter_exceptions.pop(iteration, None)

    def current_iteration(self) -> int | None:
        ctx = context.current()
        if ctx is not None:
            return ctx.iteration
        return self.iteration

    # --- depth --------------------------------------------------------------------------

    def name_of(self, code: types.CodeType) -> str:
        name = self.names.get(code)
        if name is None:
            name = self.names[code] = code_name(code)
        return name

    def new_peak(self, st: ThreadStateLike, code: types.CodeType, depth: int) -> None:
        """Slow path: ``code`` reached ``depth``, deeper than this thread saw this iteration.

        The caller records the thread's new peak once this returned (so an event skipped
        at the recursion limit is tried again at the next call that deep).
        """
        name = self.name_of(code)
        with self._lock:
            if depth > self._max.get(name, 0):
                self._max[name] = depth
            if depth < MIN_EVENT_DEPTH:
                return
            iteration = self.current_iteration()
            per = self._iter_max.setdefault(iteration, {})
            if depth <= per.get(name, 0):
                return
            per[name] = depth
        self.publish(
            RecursionDepth(iteration=iteration, function=name, depth=depth, source="probe")
        )

    def max_depths(self) -> dict[str, int]:
        with self._lock:
            return dict(self._max)

    # --- exceptions ---------------------------------------------------------------------

    def raised(self, st: ThreadStateLike, code: types.CodeType, exc: BaseException) -> None:
        """An exception appeared in an in-scope frame (raised there or propagated into it)."""
        pending = st.exc
        if pending is not None:
            if pending.exc is exc:
                pending.handled = False
                return
            st.exc = None
            self.resolve(pending, handled=pending.handled)
        if isinstance(exc, _IGNORED):
            return
        st.exc = Pending(exc, self.name_of(code), self.current_iteration())

    def reraised(self, st: ThreadStateLike, exc: BaseException) -> None:
        pending = st.exc
        if pending is not None and pending.exc is exc:
            pending.handled = False

    def handled(self, st: ThreadStateLike, code: types.CodeType, exc: BaseException) -> None:
        """An in-scope frame caught ``exc`` (tentatively: a ``finally`` may re-raise it)."""
        pending = st.exc
        if pending is None or pending.exc is not exc:
            self.raised(st, code, exc)
            pending = st.exc
            if pending is None:
                return
        pending.handled = True
        pending.depth = len(st.stack)

    def unwound(
        self, st: ThreadStateLike, exc: BaseException | None, caller_in_scope: bool
    ) -> None:
        """An in-scope frame exited with ``exc`` (None: the pending one), already popped."""
        pending = st.exc
        if pending is None or (exc is not None and pending.exc is not exc):
            return
        pending.handled = False
        if not caller_in_scope:
            st.exc = None
            self.resolve(pending, handled=False)

    def settle(self, st: ThreadStateLike) -> None:
        """Called on a pop: the frame that handled the pending exception has returned."""
        pending = st.exc
        if pending is not None and pending.handled and len(st.stack) < pending.depth:
            st.exc = None
            self.resolve(pending, handled=True)

    def flush(self) -> None:
        """Resolve every pending exception (the probe stops)."""
        for st in self.states():
            pending = st.exc
            if pending is not None:
                st.exc = None
                self.resolve(pending, handled=pending.handled)

    def resolve(self, pending: Pending, *, handled: bool) -> None:
        exc = pending.exc
        try:
            message = str(exc)[:500]
        except Exception:
            message = f"<unprintable {type(exc).__name__}>"
        event = ExceptionRaised(
            iteration=pending.iteration,
            function=pending.function,
            exc_type=type(exc).__name__,
            message=message,
            handled=handled,
            injected=isinstance(exc, _INJECTED),
        )
        with self._lock:
            if len(self.exceptions) < MAX_EXCEPTION_RECORDS:
                self.exceptions.append(event)
            count = self._iter_exceptions.get(pending.iteration, 0) + 1
            self._iter_exceptions[pending.iteration] = count
        if count == MAX_EXCEPTION_EVENTS_PER_ITERATION + 1:
            _log.warning(
                "probe: too many exceptions in one iteration; publishing injected ones only",
                iteration=pending.iteration,
                limit=MAX_EXCEPTION_EVENTS_PER_ITERATION,
            )
        if count <= MAX_EXCEPTION_EVENTS_PER_ITERATION or event.injected:
            self.publish(event)

    # --- output -------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.publish(event)
        else:
            context.emit(event)

    def fail_soft(self, where: str, exc: BaseException) -> None:
        """A non-essential step failed: log it, keep measuring."""
        _log.warning("probe step skipped after an internal error", where=where, error=repr(exc))

    def fail(self, where: str, exc: BaseException) -> None:
        """An error inside the probe's own machinery: log it once and switch the probe off."""
        if self.failed is not None:
            return
        self.failed = f"{where}: {type(exc).__name__}: {exc}"
        _log.error("probe disabled after an internal error", where=where, error=repr(exc))
        hook = self.on_failure
        if hook is not None:
            try:
                hook()
            except Exception as again:
                _log.error("probe could not switch itself off", error=repr(again))
