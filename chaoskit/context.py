"""The chaos context: which run and iteration the calling code belongs to.

Code under test calls ``maybe_panic()``, ``maybe_delay()``, ``maybe_error()`` and
``maybe_network_chaos(host, port)`` (and their ``_async`` twins) with no context argument:
the executor sets a :class:`~contextvars.ContextVar` for each iteration, which follows
asyncio tasks and ``contextvars.copy_context().run``. Threads started by the code under
test without copying the context fall back to the single active run, if there is one.

Outside a running scenario every hook returns after one global check, so they can stay in
production code.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from chaoskit.errors import ChaosPanic
from chaoskit.rng import derive_rng, global_rng

if TYPE_CHECKING:
    import asyncio

    from chaoskit.events import Event, EventBus
    from chaoskit.scenario import Scenario

__all__ = [
    "DelayProvider",
    "ErrorProvider",
    "IterationContext",
    "NetworkAction",
    "NetworkProvider",
    "PanicProvider",
    "RunContext",
    "current",
    "current_run",
    "emit",
    "maybe_delay",
    "maybe_delay_async",
    "maybe_error",
    "maybe_error_async",
    "maybe_network_chaos",
    "maybe_network_chaos_async",
    "maybe_panic",
    "maybe_panic_async",
    "record_panic",
    "record_recursion_depth",
]


# --- providers: what injectors plug into the context -----------------------------------


@runtime_checkable
class DelayProvider(Protocol):
    name: str

    def delay_for(self, ctx: IterationContext) -> float | None:
        """Seconds to delay this call, or None."""


@runtime_checkable
class PanicProvider(Protocol):
    name: str

    def panic_for(self, ctx: IterationContext) -> str | None:
        """A panic message if this call should panic, else None."""


@runtime_checkable
class ErrorProvider(Protocol):
    name: str

    def error_for(self, ctx: IterationContext) -> BaseException | None:
        """An exception to raise from this call, or None."""


@dataclass(frozen=True, slots=True)
class NetworkAction:
    """What ``maybe_network_chaos`` does for one call: wait ``delay`` then raise ``error``."""

    delay: float = 0.0
    error: BaseException | None = None
    detail: str | None = None


@runtime_checkable
class NetworkProvider(Protocol):
    name: str

    def network_chaos_for(
        self, ctx: IterationContext, host: str, port: int
    ) -> NetworkAction | None:
        """The network fault for a connection/request to ``host:port``, or None."""


# --- run and iteration contexts --------------------------------------------------------


@dataclass(eq=False)
class RunContext:
    """One running scenario, as injectors and validators see it."""

    bus: EventBus
    seed: int
    scenario: Scenario | None = None
    name: str = ""
    started: float = field(default_factory=time.monotonic)
    delay_providers: list[DelayProvider] = field(default_factory=list)
    panic_providers: list[PanicProvider] = field(default_factory=list)
    error_providers: list[ErrorProvider] = field(default_factory=list)
    network_providers: list[NetworkProvider] = field(default_factory=list)
    current_iteration: int = -1
    stop_requested: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def emit(self, event: Event) -> None:
        self.bus.publish(event)

    def request_stop(self, reason: str) -> None:
        """Ask the executor to end the run after the current iterations (first reason wins)."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stop_requested.set()

    def rng_for(self, iteration: int, *salt: object) -> random.Random:
        return derive_rng(self.seed, iteration, *salt)

    def add_provider(self, provider: object) -> None:
        """Register a context-chaos provider by the protocols it implements."""
        with self._lock:
            if isinstance(provider, DelayProvider):
                self.delay_providers.append(provider)
            if isinstance(provider, PanicProvider):
                self.panic_providers.append(provider)
            if isinstance(provider, ErrorProvider):
                self.error_providers.append(provider)
            if isinstance(provider, NetworkProvider):
                self.network_providers.append(provider)

    def remove_provider(self, provider: object) -> None:
        with self._lock:
            for lst in (
                self.delay_providers,
                self.panic_providers,
                self.error_providers,
                self.network_providers,
            ):
                while provider in lst:
                    lst.remove(provider)  # type: ignore[arg-type]

    def iteration_context(
        self, iteration: int, worker: int = 0, loop: asyncio.AbstractEventLoop | None = None
    ) -> IterationContext:
        return IterationContext(self, iteration, None, worker, loop)


class IterationContext:
    """One iteration of a run: its number, its seeded RNG and per-iteration records.

    The RNG is derived from ``(seed, iteration)`` on first use, so iterations that make
    no random decision pay nothing for it.
    """

    __slots__ = ("_rng", "iteration", "loop", "max_depths", "run", "step", "worker")

    def __init__(
        self,
        run: RunContext,
        iteration: int,
        rng: random.Random | None = None,
        worker: int = 0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.run = run
        self.iteration = iteration
        self._rng = rng
        self.worker = worker
        self.loop = loop
        self.step: str | None = None
        self.max_depths: dict[str, int] = {}

    @property
    def rng(self) -> random.Random:
        r = self._rng
        if r is None:
            r = self._rng = self.run.rng_for(self.iteration)
        return r

    def emit(self, event: Event) -> None:
        self.run.bus.publish(event)

    def __repr__(self) -> str:
        return f"<IterationContext {self.run.name!r} iteration={self.iteration}>"


_CURRENT: ContextVar[IterationContext | None] = ContextVar("chaoskit_iteration", default=None)

# Fast-path flag: False whenever no scenario is running anywhere in the process.
_active = False
_runs: list[RunContext] = []
_runs_lock = threading.Lock()
_fallback: dict[int, IterationContext] = {}


def _activate(run: RunContext) -> None:
    global _active
    with _runs_lock:
        _runs.append(run)
        _active = True


def _deactivate(run: RunContext) -> None:
    global _active
    with _runs_lock:
        if run in _runs:
            _runs.remove(run)
        _fallback.pop(id(run), None)
        _active = bool(_runs)


def _enter_iteration(ctx: IterationContext) -> Any:
    ctx.run.current_iteration = max(ctx.run.current_iteration, ctx.iteration)
    _fallback[id(ctx.run)] = ctx
    return _CURRENT.set(ctx)


def _exit_iteration(token: Any) -> None:
    _CURRENT.reset(token)


def current() -> IterationContext | None:
    """The iteration the caller runs in, or None outside a scenario."""
    if not _active:
        return None
    ctx = _CURRENT.get()
    if ctx is not None:
        return ctx
    runs = _runs
    if len(runs) == 1:
        return _fallback.get(id(runs[0]))
    return None


def current_run() -> RunContext | None:
    """The run the caller belongs to, or None."""
    ctx = current()
    return ctx.run if ctx is not None else None


def emit(event: Event) -> bool:
    """Publish ``event`` on the current run's bus; False (and nothing done) outside a run."""
    if not _active:
        return False
    ctx = current()
    if ctx is None:
        return False
    ctx.run.bus.publish(event)
    return True


def active() -> bool:
    """True while any scenario runs in this process."""
    return _active


def rng() -> random.Random:
    """The RNG random decisions should draw from: the iteration's, else the global one."""
    ctx = current()
    return ctx.rng if ctx is not None else global_rng()


# --- context chaos hooks ---------------------------------------------------------------


def maybe_panic() -> None:
    """Raise :class:`ChaosPanic` if a panic injector says so; a no-op outside a scenario."""
    if not _active:
        return
    _panic_slow()


def _panic_slow() -> None:
    from chaoskit.events import InjectionApplied

    ctx = current()
    if ctx is None:
        return
    for provider in tuple(ctx.run.panic_providers):
        message = provider.panic_for(ctx)
        if message is not None:
            ctx.emit(
                InjectionApplied(
                    iteration=ctx.iteration, injector=provider.name, action="panic", detail=message
                )
            )
            raise ChaosPanic(message)


def _delay_seconds() -> float:
    from chaoskit.events import InjectionApplied

    ctx = current()
    if ctx is None:
        return 0.0
    total = 0.0
    for provider in tuple(ctx.run.delay_providers):
        d = provider.delay_for(ctx)
        if d:
            ctx.emit(
                InjectionApplied(
                    iteration=ctx.iteration, injector=provider.name, action="delay", value=d
                )
            )
            total += d
    return total


def maybe_delay() -> None:
    """Sleep for what the delay injectors draw; a no-op outside a scenario."""
    if not _active:
        return
    d = _delay_seconds()
    if d > 0:
        time.sleep(d)


def _error_slow() -> None:
    from chaoskit.events import InjectionApplied

    ctx = current()
    if ctx is None:
        return
    for provider in tuple(ctx.run.error_providers):
        err = provider.error_for(ctx)
        if err is not None:
            ctx.emit(
                InjectionApplied(
                    iteration=ctx.iteration,
                    injector=provider.name,
                    action="error",
                    detail=f"{type(err).__name__}: {err}",
                )
            )
            raise err


def maybe_error() -> None:
    """Raise the error an error injector draws (``ChaosError`` by default); else nothing."""
    if not _active:
        return
    _error_slow()


def _network_action(host: str, port: int) -> NetworkAction | None:
    from chaoskit.events import InjectionApplied

    ctx = current()
    if ctx is None:
        return None
    delay = 0.0
    error: BaseException | None = None
    for provider in tuple(ctx.run.network_providers):
        action = provider.network_chaos_for(ctx, host, port)
        if action is None:
            continue
        ctx.emit(
            InjectionApplied(
                iteration=ctx.iteration,
                injector=provider.name,
                action="network",
                value=action.delay or None,
                detail=action.detail or f"{host}:{port}",
            )
        )
        delay += action.delay
        if action.error is not None and error is None:
            error = action.error
    if not delay and error is None:
        return None
    return NetworkAction(delay=delay, error=error)


def maybe_network_chaos(host: str, port: int) -> None:
    """Per-request network chaos for ``host:port`` (latency, refused/reset connections)."""
    if not _active:
        return
    action = _network_action(host, port)
    if action is None:
        return
    if action.delay > 0:
        time.sleep(action.delay)
    if action.error is not None:
        raise action.error


async def maybe_panic_async() -> None:
    """Async twin of :func:`maybe_panic`."""
    if not _active:
        return
    _panic_slow()


async def maybe_delay_async() -> None:
    """Async twin of :func:`maybe_delay`: awaits instead of blocking the loop."""
    if not _active:
        return
    d = _delay_seconds()
    if d > 0:
        import asyncio

        await asyncio.sleep(d)


async def maybe_error_async() -> None:
    """Async twin of :func:`maybe_error`."""
    if not _active:
        return
    _error_slow()


async def maybe_network_chaos_async(host: str, port: int) -> None:
    """Async twin of :func:`maybe_network_chaos`."""
    if not _active:
        return
    action = _network_action(host, port)
    if action is None:
        return
    if action.delay > 0:
        import asyncio

        await asyncio.sleep(action.delay)
    if action.error is not None:
        raise action.error


# --- records from the code under test --------------------------------------------------


def record_recursion_depth(depth: int, function: str | None = None) -> None:
    """Report the current recursion depth of ``function`` (default: the caller)."""
    if not _active:
        return
    ctx = current()
    if ctx is None:
        return
    if function is None:
        code = sys._getframe(1).f_code
        function = f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_qualname}"
    if depth > ctx.max_depths.get(function, 0):
        from chaoskit.events import RecursionDepth

        ctx.max_depths[function] = depth
        ctx.emit(RecursionDepth(iteration=ctx.iteration, function=function, depth=depth))


def record_panic(exc: BaseException, *, recovered: bool = True) -> None:
    """Report that the code under test caught ``exc`` (a recovered panic)."""
    if not _active:
        return
    ctx = current()
    if ctx is None:
        return
    from chaoskit.events import PanicRecorded

    ctx.emit(
        PanicRecorded(
            iteration=ctx.iteration,
            exc_type=type(exc).__name__,
            message=str(exc),
            recovered=recovered,
            injected=isinstance(exc, ChaosPanic),
        )
    )
