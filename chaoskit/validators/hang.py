"""Hang detection (Go: NoInfiniteLoop): a watchdog that ends stuck iterations."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from types import FrameType
from typing import Any

from chaoskit._util import async_raise, frame_location, stack_lines, thread_frame
from chaoskit.context import IterationContext, RunContext
from chaoskit.errors import HangDetected
from chaoskit.events import LoopDetected
from chaoskit.units import parse_duration
from chaoskit.validators.base import BaseValidator

__all__ = ["NoInfiniteLoop", "no_infinite_loop"]


class NoInfiniteLoop(BaseValidator):
    """Fails an iteration that runs longer than ``timeout`` seconds, and ends the run.

    A watchdog thread watches every worker. When an iteration overruns it records the stuck
    thread's stack (``file:line``) and, when a probe is active, the function in scope that
    is looping and how many times; it then raises :class:`~chaoskit.errors.HangDetected`
    in that thread and asks the executor to stop, so the run ends with a report instead of
    hanging (a thread blocked inside a C call is abandoned after a grace period).
    """

    kind = "no_infinite_loop"

    def __init__(self, timeout: float | str, *, interrupt: bool = True) -> None:
        super().__init__()
        self.timeout = self._arg(
            lambda: parse_duration(timeout, what="no_infinite_loop timeout"), 1.0
        )
        if self.timeout <= 0:
            from chaoskit.errors import ConfigError

            self._config_errors.append(
                ConfigError(f"no_infinite_loop timeout must be > 0, got {timeout!r}")
            )
            self.timeout = 1.0
        self.interrupt = interrupt
        self._lock = threading.Lock()
        self._active: dict[int, tuple[int, int, float]] = {}  # worker -> (thread, iteration, t0)
        self._contexts: dict[int, IterationContext] = {}  # worker -> its running iteration
        self._hung: dict[int, LoopDetected] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run: RunContext | None = None
        self.detections: list[LoopDetected] = []

    def start(self, run: RunContext) -> None:
        super().start(run)
        self._run = run
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="chaoskit-watchdog", daemon=True)
        self._thread.start()

    def before_iteration(self, ctx: IterationContext) -> None:
        with self._lock:
            self._active[ctx.worker] = (threading.get_ident(), ctx.iteration, time.monotonic())
            self._contexts[ctx.worker] = ctx

    def after_iteration(self, ctx: IterationContext) -> str | None:
        with self._lock:
            self._active.pop(ctx.worker, None)
            self._contexts.pop(ctx.worker, None)
            event = self._hung.pop(ctx.iteration, None)
        if event is None:
            return None
        where = f" in {event.function}" if event.function else ""
        loops = f" ({event.loop_iterations} iterations counted)" if event.loop_iterations else ""
        return (
            f"iteration still running after {event.elapsed:.1f}s (limit {self.timeout:g}s): "
            f"thread {event.thread} stuck at {event.location}{where}{loops}"
        )

    def _watch(self) -> None:
        tick = min(0.1, self.timeout / 4)
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                overdue = [
                    (w, tid, it, t0)
                    for w, (tid, it, t0) in self._active.items()
                    if now - t0 > self.timeout and it not in self._hung
                ]
            for worker, tid, iteration, t0 in overdue:
                self._detect(tid, iteration, now - t0, self._contexts.get(worker))

    def _detect(
        self, tid: int, iteration: int, elapsed: float, ctx: IterationContext | None = None
    ) -> None:
        run = self._run
        assert run is not None
        frame = thread_frame(tid)
        if (
            frame is not None
            and _in_event_loop(frame)
            and ctx is not None
            and ctx.loop is not None
            and ctx.loop.is_running()
        ):
            # an async step whose loop waits in select(): where the step's coroutine is
            # awaiting says more than selectors.py
            frame = _awaiting_frame(ctx.loop) or frame
        thread = next((t for t in threading.enumerate() if t.ident == tid), None)
        function, count = _probe_info(tid)
        event = LoopDetected(
            iteration=iteration,
            elapsed=elapsed,
            thread=thread.name if thread is not None else str(tid),
            location=frame_location(_user_frame(frame)) if frame is not None else "<unknown>",
            stack=stack_lines(frame),
            function=function,
            loop_iterations=count,
        )
        with self._lock:
            self._hung[iteration] = event
        self.detections.append(event)
        run.emit(event)
        run.request_stop("hang")
        if self.interrupt:
            async_raise(tid, HangDetected)

    def finish(self, run: RunContext) -> str | None:
        with self._lock:
            leftover = list(self._hung.values())
            self._hung.clear()
        if leftover:  # iterations abandoned before after_iteration could report them
            ev = leftover[0]
            return (
                f"iteration {ev.iteration} hung for {ev.elapsed:.1f}s at {ev.location} "
                f"(thread {ev.thread} abandoned)"
            )
        return None

    def stop(self, run: RunContext) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        super().stop(run)


_STDLIB = os.path.dirname(threading.__file__) + os.sep
_CHAOSKIT = os.path.dirname(os.path.dirname(__file__)) + os.sep


def _user_frame(frame: FrameType) -> FrameType:
    """The innermost frame outside the standard library and chaoskit (a thread blocked in
    ``Event.wait`` is stuck where the code under test waits, not in threading.py)."""
    f: FrameType | None = frame
    while f is not None:
        name = f.f_code.co_filename
        library = name.startswith(_CHAOSKIT) or (
            name.startswith(_STDLIB) and "-packages" not in name
        )
        if not library:
            return f
        f = f.f_back
    return frame


def _in_event_loop(frame: FrameType) -> bool:
    filename = frame.f_code.co_filename
    return f"{os.sep}asyncio{os.sep}" in filename or filename.endswith("selectors.py")


def _awaiting_frame(loop: asyncio.AbstractEventLoop) -> FrameType | None:
    """The innermost frame outside asyncio of the coroutine chain of a task on ``loop``
    (the executor's step task first)."""
    try:
        tasks = list(asyncio.all_tasks(loop))
    except Exception:  # read from another thread: best effort
        return None
    tasks.sort(key=lambda t: getattr(t.get_coro(), "__qualname__", "") != "_as_coroutine")
    for task in tasks:
        found: FrameType | None = None
        coro: Any = task.get_coro()
        for _ in range(100):
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is None:
                break
            if not _in_event_loop(frame) and frame.f_code.co_name != "_as_coroutine":
                found = frame
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        if found is not None:
            return found
    return None


def _probe_info(tid: int) -> tuple[str | None, int | None]:
    """Ask an active probe which in-scope function the thread loops in (if a probe runs)."""
    mod: Any = sys.modules.get("chaoskit.hooks.probe")
    if mod is None or not hasattr(mod, "active_probes"):
        return None, None
    try:
        for p in mod.active_probes():
            info = p.loop_info(tid)
            if info is not None:
                return str(info[0]), int(info[1])
    except Exception:  # the probe is optional; never let it break hang reporting
        return None, None
    return None, None


def no_infinite_loop(timeout: float | str) -> NoInfiniteLoop:
    """No iteration may run longer than ``timeout`` (Go: NoInfiniteLoop)."""
    return NoInfiniteLoop(timeout)
