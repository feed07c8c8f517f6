"""The ``sys.monitoring`` backend (CPython 3.12+).

Local events (``PY_START``, ``PY_RESUME``, ``PY_RETURN``, ``PY_YIELD``) are switched on for
the code objects in scope only, so code outside the scope runs exactly as fast as without
the probe. The events that cannot be local (``PY_UNWIND``, ``PY_THROW``, ``RAISE``,
``RERAISE``, ``EXCEPTION_HANDLED``) are global; their callbacks return after one set
lookup for code outside the scope, and they only fire when exceptions happen.

With the C core (:mod:`chaoskit.hooks.probe_core`) the callbacks are the methods of a
``_probe_speedups.Tracker``: the same bookkeeping without a Python frame per call, calling
the same :class:`Recorder` slow paths. The pure-Python callbacks below stay the reference.

The tool id is one found free (3 or 4: 0, 1, 2 and 5 are the debugger's, coverage's, the
profiler's and the optimizer's by convention); stopping clears every local event and
callback before freeing it. Loop counting (for hangs) adds local ``JUMP`` events on a few
code objects for a short window only.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterable, Sequence
from typing import Any

from chaoskit.hooks.probe_state import Recorder, ThreadState

__all__ = ["CANDIDATE_TOOL_IDS", "SysMonitoringBackend", "free_tool_id"]

CANDIDATE_TOOL_IDS = (3, 4)
_TOOL_NAME = "chaoskit-probe"


def _monitoring() -> Any:
    return getattr(sys, "monitoring", None)


def free_tool_id() -> tuple[int | None, str]:
    """A free tool id among :data:`CANDIDATE_TOOL_IDS`, or None and who holds them."""
    mon = _monitoring()
    if mon is None:
        return None, f"sys.monitoring needs Python 3.12+ (this is {sys.version.split()[0]})"
    holders = []
    for tool in CANDIDATE_TOOL_IDS:
        holder = mon.get_tool(tool)
        if holder is None:
            return tool, f"sys.monitoring tool id {tool} is free"
        holders.append(f"{tool}: {holder!r}")
    return None, "no free sys.monitoring tool id (" + ", ".join(holders) + ")"


class SysMonitoringBackend:
    """Feeds a :class:`Recorder` from ``sys.monitoring`` callbacks on a free tool id."""

    name = "sys.monitoring"

    def __init__(
        self,
        recorder: Recorder,
        codes: Iterable[types.CodeType],
        tool_id: int,
        core: types.ModuleType | None = None,
    ) -> None:
        self._rec = recorder
        # the C core's Tracker (None: pure-Python callbacks)
        self._tracker: Any = core.Tracker(recorder, "monitoring") if core is not None else None
        # membership by id(code): hashing a code object is slow, and equal code objects
        # (a reloaded module) are still different objects to monitor; ``_armed`` keeps
        # every code object alive, so ids are not reused while the probe runs
        self._initial = list(codes)
        self._ids: set[int] = set()
        self._tool = tool_id
        self._mon: Any = _monitoring()
        self._local = threading.local()
        self._armed: dict[int, types.CodeType] = {}
        self._running = False
        self._lock = threading.Lock()
        self._jumps: dict[types.CodeType, int] = {}
        self._jump_thread: int | None = None
        ev = self._mon.events
        self._local_events = ev.PY_START | ev.PY_RESUME | ev.PY_RETURN | ev.PY_YIELD
        self._global_events = (
            ev.PY_UNWIND | ev.PY_THROW | ev.RAISE | ev.RERAISE | ev.EXCEPTION_HANDLED
        )

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        mon = self._mon
        ev = mon.events
        mon.use_tool_id(self._tool, _TOOL_NAME)
        try:
            push, pop, throw, unwind, raise_, reraise, handled = (
                self._callbacks() if self._tracker is None else self._c_callbacks()
            )
            mon.register_callback(self._tool, ev.PY_START, push)
            mon.register_callback(self._tool, ev.PY_RESUME, push)
            mon.register_callback(self._tool, ev.PY_RETURN, pop)
            mon.register_callback(self._tool, ev.PY_YIELD, pop)
            mon.register_callback(self._tool, ev.PY_THROW, throw)
            mon.register_callback(self._tool, ev.PY_UNWIND, unwind)
            mon.register_callback(self._tool, ev.RAISE, raise_)
            mon.register_callback(self._tool, ev.RERAISE, reraise)
            mon.register_callback(self._tool, ev.EXCEPTION_HANDLED, handled)
            mon.register_callback(self._tool, ev.JUMP, self._on_jump)
            self._running = True
            self.add_codes(self._initial)
            mon.set_events(self._tool, self._global_events)
        except BaseException:
            self.stop()
            raise

    def disable(self) -> None:
        """Switch every event off (after an internal error); :meth:`stop` still frees."""
        mon = self._mon
        if mon.get_tool(self._tool) != _TOOL_NAME:
            return
        self._running = False
        mon.set_events(self._tool, 0)
        with self._lock:
            armed = list(self._armed.values())
            self._armed.clear()
        for code in armed:
            mon.set_local_events(self._tool, code, 0)

    def stop(self) -> None:
        mon = self._mon
        if mon.get_tool(self._tool) != _TOOL_NAME:
            return
        self.disable()
        for event in (
            "PY_START",
            "PY_RESUME",
            "PY_RETURN",
            "PY_YIELD",
            "PY_THROW",
            "PY_UNWIND",
            "RAISE",
            "RERAISE",
            "EXCEPTION_HANDLED",
            "JUMP",
        ):
            mon.register_callback(self._tool, getattr(mon.events, event), None)
        mon.free_tool_id(self._tool)

    def rearm(self) -> None:
        """Nothing to do: sys.monitoring keeps its callbacks when one of them fails."""

    def add_codes(self, codes: Iterable[types.CodeType]) -> None:
        if not self._running:
            return
        with self._lock:
            for code in codes:
                if id(code) not in self._armed:
                    if self._tracker is not None:
                        self._tracker.watch(code)  # before its events can fire
                    self._mon.set_local_events(self._tool, code, self._local_events)
                    self._armed[id(code)] = code
                    self._ids.add(id(code))

    @property
    def tool_id(self) -> int:
        return self._tool

    # --- callbacks (the hot path) -------------------------------------------------------

    def _c_callbacks(self) -> tuple[Any, ...]:
        """The C core's callbacks, in the order of :meth:`_callbacks` (a throw is a push:
        the C push checks the scope itself)."""
        t = self._tracker
        return t.push, t.pop, t.push, t.unwind, t.raise_, t.reraise, t.handled

    def _callbacks(self) -> tuple[Any, ...]:
        rec = self._rec
        local = self._local
        ids = self._ids
        new_state = rec.new_thread_state
        new_peak = rec.new_peak
        settle = rec.settle
        fail = rec.fail
        getframe = sys._getframe

        def state() -> ThreadState:
            try:
                st: ThreadState = local.st
            except AttributeError:
                st = local.st = new_state()
            return st

        # The hot path: one push per call or resume, one pop per return or yield. Keys are
        # id(code): hashing a code object would cost more than everything else here.
        def push(code: types.CodeType, offset: int) -> None:
            try:
                try:
                    st = local.st
                except AttributeError:
                    st = local.st = new_state()
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
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as exc:
                fail("sys.monitoring push", exc)

        def pop(code: types.CodeType, offset: int, value: object) -> None:
            try:
                try:
                    st = local.st
                except AttributeError:
                    return
                stack = st.stack
                if stack and stack[-1] is code:
                    stack.pop()
                else:
                    st.resync_pop(code)
                if st.exc is not None:
                    settle(st)
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as exc:
                fail("sys.monitoring pop", exc)

        def throw(code: types.CodeType, offset: int, exc: BaseException) -> None:
            if id(code) in ids:
                push(code, offset)

        def unwind(code: types.CodeType, offset: int, exc: BaseException) -> None:
            if id(code) not in ids:
                return
            try:
                st = state()
                stack = st.stack
                if stack and stack[-1] is code:
                    stack.pop()
                else:
                    st.resync_pop(code)
                if st.exc is not None:
                    caller = getframe(1).f_back
                    rec.unwound(st, exc, caller is not None and id(caller.f_code) in ids)
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as err:
                fail("sys.monitoring unwind", err)

        def raise_(code: types.CodeType, offset: int, exc: BaseException) -> None:
            if id(code) not in ids:
                return
            try:
                rec.raised(state(), code, exc)
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as err:
                fail("sys.monitoring raise", err)

        def reraise(code: types.CodeType, offset: int, exc: BaseException) -> None:
            if id(code) not in ids:
                return
            try:
                rec.reraised(state(), exc)
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as err:
                fail("sys.monitoring reraise", err)

        def handled(code: types.CodeType, offset: int, exc: BaseException) -> None:
            if id(code) not in ids:
                return
            try:
                rec.handled(state(), code, exc)
            except RecursionError:
                pass  # the program hit the limit: skip this event, stay on
            except Exception as err:
                fail("sys.monitoring exception handled", err)

        return push, pop, throw, unwind, raise_, reraise, handled

    # --- loops --------------------------------------------------------------------------

    def _on_jump(self, code: types.CodeType, src: int, dest: int) -> object:
        if dest < src and threading.get_ident() == self._jump_thread:
            self._jumps[code] = self._jumps.get(code, 0) + 1
        return None

    def count_loops(
        self, thread_id: int, codes: Sequence[types.CodeType], window: float
    ) -> dict[types.CodeType, int]:
        """Backward jumps (loop iterations) per code object of ``thread_id`` over ``window``."""
        if not self._running or self._jump_thread is not None:
            return {}
        ev = self._mon.events
        self._jumps = {}
        self._jump_thread = thread_id
        watched = [c for c in codes if id(c) in self._ids]
        try:
            with self._lock:
                for code in watched:
                    self._mon.set_local_events(self._tool, code, self._local_events | ev.JUMP)
            time.sleep(window)
        finally:
            with self._lock:
                for code in watched:
                    if self._running:
                        self._mon.set_local_events(self._tool, code, self._local_events)
            self._jump_thread = None
        return dict(self._jumps)
