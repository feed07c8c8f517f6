"""Hang detection (Go: NoInfiniteLoop): a watchdog that ends stuck iterations."""

from __future__ import annotations

import sys
import threading
import time
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

    def after_iteration(self, ctx: IterationContext) -> str | None:
        with self._lock:
            self._active.pop(ctx.worker, None)
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
            for _worker, tid, iteration, t0 in overdue:
                self._detect(tid, iteration, now - t0)

    def _detect(self, tid: int, iteration: int, elapsed: float) -> None:
        run = self._run
        assert run is not None
        frame = thread_frame(tid)
        thread = next((t for t in threading.enumerate() if t.ident == tid), None)
        function, count = _probe_info(tid)
        event = LoopDetected(
            iteration=iteration,
            elapsed=elapsed,
            thread=thread.name if thread is not None else str(tid),
            location=frame_location(frame) if frame is not None else "<unknown>",
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
