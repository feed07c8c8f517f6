"""Reach threads that were already running when a trace-based probe started (CPython 3.11).

``sys.settrace``/``setprofile`` only change the calling thread and ``threading.settrace``
only threads started later; CPython 3.12 added ``threading.settrace_all_threads``, 3.11 has
no Python API for it. This module does what that function does, through ``ctypes``: it
walks the interpreter's thread states and calls the exported ``_PyEval_SetTrace`` /
``_PyEval_SetProfile`` on each thread whose slot is empty (a thread with its own tracer,
coverage's or a debugger's, is left alone).

Nothing here guesses the C structure: the slot offsets and the C trampoline that
``sys.settrace`` installs are found by installing a sentinel function in the current thread
and looking for it in the thread state, then checked before anything is written. If any
check fails, :func:`supported` says why and the probe simply does not reach those threads.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ExistingThreads", "supported"]

_WORDS = 96  # how much of a PyThreadState to scan (its size is ~100 words on 3.11)
_P = ctypes.sizeof(ctypes.c_void_p)


class _Layout:
    """Offsets (in words) of one slot and the thread id in a thread state, and the C hook."""

    def __init__(self, obj_index: int, func_index: int, tid_index: int, trampoline: int) -> None:
        self.obj_index = obj_index
        self.func_index = func_index
        self.tid_index = tid_index
        self.trampoline = trampoline


@functools.cache
def _api() -> Any:
    api = ctypes.pythonapi
    api.PyThreadState_Get.restype = ctypes.c_void_p
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
    api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
    api.PyThreadState_Next.restype = ctypes.c_void_p
    api.PyThreadState_Next.argtypes = [ctypes.c_void_p]
    for name in ("_PyEval_SetTrace", "_PyEval_SetProfile"):
        fn = getattr(api, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.py_object]
    return api


def _words(address: int) -> Any:
    return (ctypes.c_void_p * _WORDS).from_address(address)


_layouts: dict[str, _Layout | str] = {}
_lock = threading.Lock()


def _find_layout(kind: str) -> _Layout | str:
    """Find the slot's offsets by installing a sentinel in this thread (and removing it)."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return "only needed and supported on CPython 3.11"
    get: Callable[[], Any] = getattr(sys, f"get{kind}")
    put: Callable[[Any], None] = getattr(sys, f"set{kind}")
    if get() is not None:
        return f"the {kind} slot of the probe's own thread is in use"
    try:
        api = _api()
    except (AttributeError, OSError) as exc:
        return f"the C API is not reachable ({exc})"

    def sentinel(*_args: object) -> None:
        return None

    ts = api.PyThreadState_Get()
    words = _words(ts)
    ident = threading.get_ident()
    tids = [i for i in range(_WORDS) if words[i] == ident]
    put(sentinel)
    try:
        hits = [i for i in range(_WORDS) if words[i] == id(sentinel)]
        if len(hits) != 1 or hits[0] < 2:
            return "could not locate the slot in the thread state"
        obj_index = hits[0]
        func_index = obj_index - 2
        trampoline = words[func_index]
    finally:
        put(None)
    if len(tids) != 1 or not trampoline or words[obj_index] is not None:
        return "could not locate the thread id or the C trampoline"
    return _Layout(obj_index, func_index, tids[0], int(trampoline))


def _layout(kind: str) -> _Layout | str:
    with _lock:
        found = _layouts.get(kind)
        if found is None:
            found = _find_layout(kind)
            if not (isinstance(found, str) and "in use" in found):  # worth retrying later
                _layouts[kind] = found
        return found


def supported(kind: str) -> tuple[bool, str]:
    """Whether threads already running can be reached for ``kind`` (trace/profile), and why."""
    layout = _layout(kind)
    if isinstance(layout, str):
        return False, layout
    return True, "threads already running are reached through _PyEval_Set" + kind.title()


@functools.cache
def _clearer(kind: str) -> Any:
    """The same C function with a NULL object argument (ctypes would pass None); made once
    (each ctypes function pointer made here would stay allocated)."""
    name = "_PyEval_SetTrace" if kind == "trace" else "_PyEval_SetProfile"
    proto = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    return proto((name, ctypes.pythonapi))


class ExistingThreads:
    """Installs a function in the empty ``kind`` slot of every other running thread."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.installed: list[int] = []  # thread idents

    def prepare(self) -> bool:
        """Find the layout now (while this thread's slot is still empty); True if usable."""
        return not isinstance(_layout(self.kind), str)

    def _thread_states(self, layout: _Layout) -> list[tuple[int, int]]:
        api = _api()
        out = []
        ts = api.PyInterpreterState_ThreadHead(api.PyInterpreterState_Get())
        while ts:
            out.append((int(ts), int(_words(ts)[layout.tid_index] or 0)))
            ts = api.PyThreadState_Next(ts)
        return out

    def _setter(self) -> Any:
        api = _api()
        return api._PyEval_SetTrace if self.kind == "trace" else api._PyEval_SetProfile

    def _clearer(self) -> Any:
        return _clearer(self.kind)

    def install(self, fn: Callable[..., Any]) -> int:
        """Install ``fn`` in other threads whose slot is empty; returns how many."""
        layout = _layout(self.kind)
        if isinstance(layout, str):
            return 0
        me = threading.get_ident()
        setter = self._setter()
        for ts, ident in self._thread_states(layout):
            if ident == me or _words(ts)[layout.obj_index] is not None:
                continue
            if setter(ts, layout.trampoline, fn) == 0:
                self.installed.append(ident)
        return len(self.installed)

    def uninstall(self, fn: Callable[..., Any]) -> None:
        """Empty the slot again in the threads (still alive) that still run ``fn``."""
        layout = _layout(self.kind)
        if isinstance(layout, str) or not self.installed:
            return
        wanted = set(self.installed)
        clear = self._clearer()
        for ts, ident in self._thread_states(layout):
            if ident in wanted and _words(ts)[layout.obj_index] == id(fn):
                clear(ts, None, None)
        self.installed.clear()
