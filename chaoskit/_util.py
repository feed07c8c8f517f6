"""Small helpers shared by the core (not public)."""

from __future__ import annotations

import ctypes
import math
import os
import sys
import traceback
from types import FrameType

__all__ = ["async_raise", "frame_location", "percentile", "stack_lines"]


def async_raise(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raise ``exc_type`` in another thread at its next bytecode (True if it was queued).

    Code blocked inside a C call sees it only when the call returns.
    """
    res = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    if res > 1:  # pragma: no cover - several thread states matched: undo
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        return False
    return bool(res == 1)


def _short(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def frame_location(frame: FrameType) -> str:
    """``file:line in function`` for a frame."""
    code = frame.f_code
    return f"{_short(code.co_filename)}:{frame.f_lineno} in {code.co_qualname}"


def stack_lines(frame: FrameType | None, limit: int = 30) -> tuple[str, ...]:
    """The stack ending at ``frame``, outermost first, as ``file:line in function`` lines."""
    if frame is None:
        return ()
    summary = traceback.extract_stack(frame, limit=limit)
    return tuple(f"{_short(fs.filename)}:{fs.lineno} in {fs.name}" for fs in summary)


def thread_frame(thread_id: int) -> FrameType | None:
    return sys._current_frames().get(thread_id)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
