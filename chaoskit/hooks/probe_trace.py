"""The ``sys.settrace`` and ``sys.setprofile`` backends (CPython 3.11, and the fallback).

``settrace`` (used when the trace slot is free): the global trace function sees every
call in the process and returns a local tracer only for frames in scope, with line events
switched off (``frame.f_trace_lines = False``); the local tracer sees their returns and
exceptions. After an exception it turns lines on for that frame until the next line (the
exception was handled there) or return (it unwound; ``f_lasti`` is then not on a return
or yield instruction).

``setprofile`` (used when something else, coverage.py or a debugger, holds the trace slot:
the probe must not displace it): calls and returns only, so depths are exact but
exceptions are not reported and loops are not counted. An existing profile function is
chained, not replaced.

With the C core (:mod:`chaoskit.hooks.probe_core`, CPython 3.11) the function installed
is a ``_probe_speedups.Tracker``: called once per thread as a Python trace (or profile)
function, it installs its C function there with ``PyEval_SetTrace``/``PyEval_SetProfile``
(``sys.gettrace()`` still returns the Tracker), which pushes and pops in C and hands
exceptions, lines after an exception and returns while one is pending to the same Python
methods the pure-Python local tracer uses (``_returned``, ``_exception``, ``_line``).

Both are per thread: the current thread and threads started while the probe runs are
covered (``threading.settrace``/``setprofile``), and on CPython 3.11 threads that were
already running too (:mod:`chaoskit.hooks.probe_threads`). Stopping restores the previous
functions; threads started meanwhile drop the probe's function on their next call.
"""

from __future__ import annotations

import abc
import dis
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chaoskit.hooks.probe_state import Recorder, ThreadState, ThreadStateLike
from chaoskit.hooks.probe_threads import ExistingThreads

__all__ = ["SetprofileBackend", "SettraceBackend"]

TraceFn = Callable[[types.FrameType, str, Any], Any]

_NORMAL_EXIT = frozenset(
    dis.opmap[name] for name in ("RETURN_VALUE", "YIELD_VALUE", "RETURN_CONST") if name in dis.opmap
)


class _Slot:
    """One of the two per-thread hook slots, with its ``threading`` twin."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.get: Callable[[], Any] = getattr(sys, f"get{kind}")
        self.set: Callable[[Any], None] = getattr(sys, f"set{kind}")
        self.get_threading: Callable[[], Any] = getattr(threading, f"get{kind}")
        self.set_threading: Callable[[Any], None] = getattr(threading, f"set{kind}")


class _TraceBase(abc.ABC):
    """Install/uninstall one function in a slot of this thread and of new threads."""

    name = "trace"
    slot_kind = "trace"

    def __init__(
        self,
        recorder: Recorder,
        codes: Iterable[types.CodeType],
        core: types.ModuleType | None = None,
    ) -> None:
        self._rec = recorder
        self._core = core
        self._tracker: Any = None  # the C core's Tracker, once started with it
        # membership by id(code): hashing a code object costs more than the check itself,
        # and equal code objects (a reloaded module) are different functions to watch
        self._keep: dict[int, types.CodeType] = {id(code): code for code in codes}
        self._ids = set(self._keep)
        self._local = threading.local()
        self._slot = _Slot(self.slot_kind)
        self._prev: Any = None
        self._prev_threading: Any = None
        self._stopped = False
        self._fn: TraceFn | None = None
        self._starter = 0
        self._existing: ExistingThreads | None = None
        self.reached_existing = 0

    def _state(self) -> ThreadState:
        try:
            st: ThreadState = self._local.st
        except AttributeError:
            st = self._local.st = self._rec.new_thread_state()
        return st

    @abc.abstractmethod
    def _make(self) -> TraceFn:
        """Build the trace (or profile) function this backend installs."""

    @abc.abstractmethod
    def _make_tracker(self, core: types.ModuleType) -> Any:
        """Build the C core's Tracker that this backend installs instead."""

    def start(self) -> None:
        self._starter = threading.get_ident()
        self._prev = self._slot.get()
        self._prev_threading = self._slot.get_threading()
        # threads already running (CPython 3.11 through ctypes; elsewhere nothing happens)
        existing = ExistingThreads(self.slot_kind)
        try:
            usable = existing.prepare()  # before our function takes this thread's slot
        except Exception as exc:  # never fail the start for this
            self._rec.fail_soft("preparing to reach running threads", exc)
            usable = False
        if self._core is not None:
            self._tracker = self._make_tracker(self._core)
            for code in self._keep.values():
                self._tracker.watch(code)
            self._fn = self._tracker
        else:
            self._fn = self._make()
        self._slot.set(self._fn)
        self._slot.set_threading(self._fn)
        if usable:
            self._existing = existing
            try:
                self.reached_existing = existing.install(self._fn)
            except Exception as exc:
                self._rec.fail_soft("reaching running threads", exc)

    def disable(self) -> None:
        self._stopped = True
        if self._tracker is not None:
            self._tracker.stopped = True

    def stop(self) -> None:
        if self._fn is not None and self._existing is not None:
            try:
                self._existing.uninstall(self._fn)
            except Exception as exc:
                self._rec.fail_soft("leaving running threads", exc)
        if self._fn is not None:
            if self._slot.get_threading() is self._fn:
                self._slot.set_threading(self._prev_threading)
            if self._slot.get() is self._fn:
                self._slot.set(self._prev)
        self.disable()

    def rearm(self) -> None:
        """Reinstall in this thread if CPython dropped the function (it does when a call of
        it fails, e.g. at the recursion limit)."""
        if self._fn is not None and not self._stopped and self._slot.get() is None:
            self._slot.set(self._fn)

    def _leave_thread(self) -> None:
        """Called in a thread that still runs the probe's function after :meth:`stop`."""
        if self._slot.get() is self._fn:
            starter = threading.get_ident() == self._starter
            self._slot.set(self._prev if starter else self._prev_threading)

    def add_codes(self, codes: Iterable[types.CodeType]) -> None:
        for code in codes:
            if self._tracker is not None:
                self._tracker.watch(code)
            self._keep[id(code)] = code
            self._ids.add(id(code))

    def _pop(self, st: ThreadState, code: types.CodeType) -> None:
        stack = st.stack
        if stack and stack[-1] is code:
            stack.pop()
        else:
            st.resync_pop(code)

    def _push(self, st: ThreadState, code: types.CodeType) -> None:
        stack = st.stack
        n = len(stack)
        k = id(code)
        entry = st.info.get(k)
        if entry is None:
            entry = st.info[k] = [n, 0]
            d = 1
        else:
            i = entry[0]
            if i < n and stack[i] is code:
                d = n + 1 - i
            else:
                entry[0] = n
                d = 1
        stack.append(code)
        if d > entry[1]:
            self._rec.new_peak(st, code, d)
            entry[1] = d

    def count_loops(
        self, thread_id: int, codes: Sequence[types.CodeType], window: float
    ) -> dict[types.CodeType, int]:
        return {}


class SettraceBackend(_TraceBase):
    """Depths, exceptions and loop counts from ``sys.settrace``."""

    name = "settrace"
    slot_kind = "trace"

    def __init__(
        self,
        recorder: Recorder,
        codes: Iterable[types.CodeType],
        core: types.ModuleType | None = None,
    ) -> None:
        super().__init__(recorder, codes, core)
        self._ops: dict[types.CodeType, bytes] = {}
        self._count_thread: int | None = None
        self._jumps: dict[types.CodeType, int] = {}
        self._last_line: dict[int, int] = {}

    def _unwinding(self, frame: types.FrameType) -> bool:
        code = frame.f_code
        ops = self._ops.get(code)
        if ops is None:
            ops = self._ops[code] = code.co_code
        lasti = frame.f_lasti
        return 0 <= lasti < len(ops) and ops[lasti] not in _NORMAL_EXIT

    # The slow paths of an in-scope frame, shared by the Python local tracer and the C core.

    def _returned(self, st: ThreadStateLike, frame: types.FrameType, arg: Any) -> None:
        """The frame returned (already popped) while an exception is pending."""
        if arg is None and self._unwinding(frame):
            caller = frame.f_back
            self._rec.unwound(st, None, caller is not None and id(caller.f_code) in self._ids)
        else:
            self._rec.settle(st)

    def _exception(self, st: ThreadStateLike, frame: types.FrameType, arg: Any) -> None:
        """An exception appeared in the frame: lines on until it is handled or unwinds."""
        self._rec.raised(st, frame.f_code, arg[1])
        if st.exc is not None:
            frame.f_trace_lines = True

    def _line(self, st: ThreadStateLike, frame: types.FrameType) -> None:
        """A line ran after an exception (so it was handled here), or loops are counted."""
        if self._count_thread is not None:
            self._count_line(frame)
        pending = st.exc
        if pending is not None and not pending.handled:
            self._rec.handled(st, frame.f_code, pending.exc)
        if self._count_thread is None:
            frame.f_trace_lines = False

    def _make_tracker(self, core: types.ModuleType) -> Any:
        return core.Tracker(
            self._rec,
            "trace",
            on_return=self._returned,
            on_exception=self._exception,
            on_line=self._line,
            leave=self._leave_thread,
        )

    def _make(self) -> TraceFn:
        ids = self._ids
        rec = self._rec
        state = self._state
        fail = rec.fail
        local_state = self._local
        new_state = rec.new_thread_state
        new_peak = rec.new_peak

        def local(frame: types.FrameType, event: str, arg: Any) -> Any:
            if self._stopped:
                return None
            try:
                code = frame.f_code
                if event == "return":
                    st = local_state.st
                    stack = st.stack
                    if stack and stack[-1] is code:
                        stack.pop()
                    else:
                        st.resync_pop(code)
                    if st.exc is not None:
                        self._returned(st, frame, arg)
                elif event == "exception":
                    self._exception(state(), frame, arg)
                elif event == "line":
                    self._line(state(), frame)
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as exc:
                fail("settrace local", exc)
                return None
            return local

        def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
            code = frame.f_code
            if id(code) not in ids:
                if self._stopped:
                    self._leave_thread()
                return None
            if self._stopped:
                self._leave_thread()
                return None
            try:
                try:
                    st = local_state.st
                except AttributeError:
                    st = local_state.st = new_state()
                stack = st.stack
                n = len(stack)
                k = id(code)
                entry = st.info.get(k)
                if entry is None:
                    entry = st.info[k] = [n, 0]
                    d = 1
                else:
                    i = entry[0]
                    if i < n and stack[i] is code:
                        d = n + 1 - i
                    else:
                        entry[0] = n
                        d = 1
                stack.append(code)
                if d > entry[1]:
                    new_peak(st, code, d)
                    entry[1] = d
                frame.f_trace_lines = False
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as exc:
                fail("settrace call", exc)
                return None
            return local

        return trace

    def _count_line(self, frame: types.FrameType) -> None:
        if threading.get_ident() != self._count_thread:
            return
        key = id(frame)
        line = frame.f_lineno
        last = self._last_line.get(key)
        if last is not None and line <= last:
            self._jumps[frame.f_code] = self._jumps.get(frame.f_code, 0) + 1
        self._last_line[key] = line

    def count_loops(
        self, thread_id: int, codes: Sequence[types.CodeType], window: float
    ) -> dict[types.CodeType, int]:
        """Backward line moves per code object in ``thread_id``'s in-scope frames."""
        if self._stopped or self._count_thread is not None:
            return {}
        frame = sys._current_frames().get(thread_id)
        frames = []
        while frame is not None:
            if id(frame.f_code) in self._ids and frame.f_code in codes:
                frames.append(frame)
            frame = frame.f_back
        if not frames or self._fn is None:
            return {}
        self._jumps = {}
        self._last_line = {}
        self._count_thread = thread_id
        tracker = self._tracker
        try:
            if tracker is not None:
                tracker.count_lines = True
            for fr in frames:
                if fr.f_trace is None:
                    fr.f_trace = self._local_for(fr)
                fr.f_trace_lines = True
            time.sleep(window)
        finally:
            self._count_thread = None
            if tracker is not None:
                tracker.count_lines = False
            for fr in frames:
                fr.f_trace_lines = False
        return dict(self._jumps)

    def _local_for(self, frame: types.FrameType) -> TraceFn:
        """A line-counting local tracer for a frame that started before the probe."""

        def counter(fr: types.FrameType, event: str, arg: Any) -> Any:
            if event == "line" and self._count_thread is not None:
                self._count_line(fr)
            return counter if not self._stopped else None

        return counter


class SetprofileBackend(_TraceBase):
    """Depths from ``sys.setprofile`` (chaining a profile function already installed)."""

    name = "setprofile"
    slot_kind = "profile"

    def _make_tracker(self, core: types.ModuleType) -> Any:
        chained = self._prev if callable(self._prev) else None
        return core.Tracker(self._rec, "profile", leave=self._leave_thread, chained=chained)

    def _make(self) -> TraceFn:
        ids = self._ids
        state = self._state
        push = self._push
        pop = self._pop
        fail = self._rec.fail
        chained = self._prev if callable(self._prev) else None

        def profile(frame: types.FrameType, event: str, arg: Any) -> Any:
            if chained is not None:
                chained(frame, event, arg)
            code = frame.f_code
            if id(code) not in ids:
                if self._stopped:
                    self._leave_thread()
                return None
            if self._stopped:
                self._leave_thread()
                return None
            try:
                if event == "call":
                    push(state(), code)
                elif event == "return":
                    pop(state(), code)
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as exc:
                fail("setprofile", exc)
            return None

        return profile
