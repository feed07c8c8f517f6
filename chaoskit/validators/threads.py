"""Thread and task validators (Go: GoroutineLimit, GoroutineLeakValidator)."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import weakref
from typing import Any

from chaoskit.context import IterationContext, RunContext
from chaoskit.events import ResourceSample, TaskLeaked, ThreadLeaked
from chaoskit.validators.base import BaseValidator, check_int, check_number

__all__ = [
    "NoTaskLeak",
    "NoThreadLeak",
    "ThreadLimit",
    "no_task_leak",
    "no_thread_leak",
    "thread_limit",
]


def _own(thread: threading.Thread) -> bool:
    return thread.name.startswith("chaoskit-")


def _user_threads() -> int:
    """Threads alive, not counting chaoskit's own (workers, watchdog, samplers)."""
    return sum(1 for t in threading.enumerate() if not _own(t))


class ThreadLimit(BaseValidator):
    """Fails an iteration after which more than ``limit`` threads are alive."""

    kind = "thread_limit"

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = self._arg(lambda: check_int(limit, "thread_limit limit", minimum=1), 1)
        self.peak = 0
        self._last_sample = 0.0

    def after_iteration(self, ctx: IterationContext) -> str | None:
        n = threading.active_count()  # cheap; chaoskit's own threads are only excluded below
        if n > self.peak:
            self.peak = n
        now = time.monotonic()
        if now - self._last_sample > 0.5:
            self._last_sample = now
            ctx.emit(ResourceSample(iteration=ctx.iteration, threads=_user_threads()))
        if n > self.limit:
            n = _user_threads()
            if n > self.limit:
                return f"{n} threads alive, limit {self.limit}"
        return None


class NoThreadLeak(BaseValidator):
    """Fails an iteration that leaves threads running which were not there before it.

    Threads get ``grace`` seconds to finish after the iteration; ``tolerance`` leaked
    threads are allowed. chaoskit's own threads (named ``chaoskit-*``) are ignored.
    """

    kind = "no_thread_leak"

    def __init__(self, tolerance: int = 0, grace: float = 0.2) -> None:
        super().__init__()
        self.tolerance = self._arg(
            lambda: check_int(tolerance, "no_thread_leak tolerance", minimum=0), 0
        )
        self.grace = self._arg(lambda: check_number(grace, "no_thread_leak grace", minimum=0), 0.2)
        self._before: dict[int, set[int]] = {}
        self._owners: _ThreadOwners | None = None

    def start(self, run: RunContext) -> None:
        super().start(run)
        if run.scenario is not None and run.scenario.workers > 1:
            # with several workers, a thread another worker's step started is not a leak
            # of this iteration: remember which worker each thread was started from
            self._owners = _ThreadOwners().install()

    def stop(self, run: RunContext) -> None:
        if self._owners is not None:
            self._owners.uninstall()
            self._owners = None
        super().stop(run)

    def before_iteration(self, ctx: IterationContext) -> None:
        self._before[ctx.worker] = {id(t) for t in threading.enumerate()}

    def after_iteration(self, ctx: IterationContext) -> str | None:
        before = self._before.pop(ctx.worker, set())
        owners = self._owners
        me = threading.get_ident()
        deadline = time.monotonic() + self.grace
        while True:
            new = [
                t
                for t in threading.enumerate()
                if id(t) not in before
                and t.is_alive()
                and not _own(t)
                and (owners is None or owners.owner(t) in (me, None))
            ]
            if len(new) <= self.tolerance or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if len(new) <= self.tolerance:
            return None
        names = tuple(sorted(t.name for t in new))
        ctx.emit(ThreadLeaked(iteration=ctx.iteration, count=len(new), names=names))
        # the leaked threads are now the baseline: report each leak once
        return f"{len(new)} thread(s) leaked: {', '.join(names[:5])}"


class _ThreadOwners:
    """While installed, records for each started thread the worker it descends from.

    ``threading.Thread.start`` is wrapped for the run (and restored at its end): a thread
    started by a chaoskit thread (a worker) is owned by it; a thread started by a user
    thread inherits that thread's owner.
    """

    def __init__(self) -> None:
        self._owners: weakref.WeakKeyDictionary[threading.Thread, int] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._original: Any = None
        self._wrapper: Any = None
        self._active = False

    def install(self) -> _ThreadOwners:
        original: Any = threading.Thread.start
        owners = self

        @functools.wraps(original)
        def start(thread: threading.Thread) -> None:
            if owners._active:
                parent = threading.current_thread()
                with owners._lock:
                    owner = None if _own(parent) else owners._owners.get(parent)
                    owners._owners[thread] = threading.get_ident() if owner is None else owner
            original(thread)

        self._original = original
        self._active = True
        self._wrapper = start
        threading.Thread.start = start  # type: ignore[method-assign, assignment]
        return self

    def uninstall(self) -> None:
        self._active = False  # a wrapper someone else wrapped again becomes a pass-through
        if self._original is not None and threading.Thread.start is self._wrapper:
            threading.Thread.start = self._original  # type: ignore[method-assign]
        self._original = None

    def owner(self, thread: threading.Thread) -> int | None:
        """The ident of the worker (or other thread) ``thread`` descends from; None if it
        was started before the run."""
        with self._lock:
            return self._owners.get(thread)


class NoTaskLeak(BaseValidator):
    """Fails an iteration that leaves asyncio tasks pending on the executor's loop.

    Leaked tasks are cancelled after being reported so they do not pile up.
    """

    kind = "no_task_leak"

    def __init__(self, tolerance: int = 0, cancel: bool = True) -> None:
        super().__init__()
        self.tolerance = self._arg(
            lambda: check_int(tolerance, "no_task_leak tolerance", minimum=0), 0
        )
        self.cancel = cancel
        self._before: dict[int, set[int]] = {}

    def before_iteration(self, ctx: IterationContext) -> None:
        loop = ctx.loop
        self._before[ctx.worker] = (
            {id(t) for t in asyncio.all_tasks(loop)}
            if loop is not None and not loop.is_closed()
            else set()
        )

    def after_iteration(self, ctx: IterationContext) -> str | None:
        loop = ctx.loop
        before = self._before.pop(ctx.worker, set())
        if loop is None or loop.is_closed():
            return None
        pending = [t for t in asyncio.all_tasks(loop) if not t.done() and id(t) not in before]
        if len(pending) <= self.tolerance:
            return None
        names = tuple(sorted(t.get_name() for t in pending))
        ctx.emit(TaskLeaked(iteration=ctx.iteration, count=len(pending), names=names))
        if self.cancel:
            for t in pending:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        coro_names = sorted({getattr(t.get_coro(), "__qualname__", "?") for t in pending})
        return f"{len(pending)} asyncio task(s) leaked: {', '.join(coro_names[:5])}"

    def start(self, run: RunContext) -> None:
        super().start(run)
        self._before.clear()


def thread_limit(limit: int) -> ThreadLimit:
    """At most ``limit`` threads alive after each iteration (Go: GoroutineLimit)."""
    return ThreadLimit(limit)


def no_thread_leak(tolerance: int = 0, grace: float = 0.2) -> NoThreadLeak:
    """No thread started by an iteration may outlive it (after ``grace`` seconds)."""
    return NoThreadLeak(tolerance, grace)


def no_task_leak(tolerance: int = 0, cancel: bool = True) -> NoTaskLeak:
    """No asyncio task started by an iteration may still be pending when it ends."""
    return NoTaskLeak(tolerance, cancel)
