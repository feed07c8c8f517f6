"""The executor: runs a scenario's iterations with its injectors, validators and probe.

Iterations run in worker threads (one per ``.workers(n)``); the calling thread supervises,
so a hung iteration, Ctrl-C or SIGTERM still ends the run with a report. Whatever the run
started (injectors, validators, the probe, the event log, signal handlers, event loops) is
stopped on every way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import inspect
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

from chaoskit import context as _context
from chaoskit._util import async_raise
from chaoskit.context import IterationContext, RunContext
from chaoskit.errors import ConfigError, RunInterrupted, ScenarioFailed
from chaoskit.events import (
    EventBus,
    InjectorStarted,
    InjectorStopped,
    IterationFinished,
    IterationStarted,
    JsonlRecorder,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ValidatorVerdict,
)
from chaoskit.report.model import Report, ReportBuilder
from chaoskit.rng import new_seed
from chaoskit.scenario import CheckSpec, Scenario

__all__ = ["CONTINUE_ON_FAILURE", "FAIL_FAST", "Executor", "FailurePolicy", "make_logger", "run"]


class FailurePolicy(enum.Enum):
    """What a failed iteration does to the run."""

    FAIL_FAST = "fail_fast"
    CONTINUE_ON_FAILURE = "continue_on_failure"


FAIL_FAST = FailurePolicy.FAIL_FAST
CONTINUE_ON_FAILURE = FailurePolicy.CONTINUE_ON_FAILURE

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
# Raised by a step, these end the run as well as failing the iteration.
_STOPPING = (KeyboardInterrupt, SystemExit)
# Stop reasons that make the report say the run was interrupted.
_INTERRUPTIONS = ("hang", "abandoned", "KeyboardInterrupt", "SystemExit")


def make_logger(
    json_logs: bool = False, log_level: str = "info", stream: IO[str] | None = None
) -> Any:
    """A structlog logger with its settings fixed here (no global configuration)."""
    import structlog  # imported on first use: `import chaoskit` stays light

    level = log_level.lower() if isinstance(log_level, str) else log_level
    if level not in _LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(_LEVELS)}, got {log_level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.wrap_logger(
        structlog.PrintLogger(stream or sys.stderr),  # type: ignore[arg-type]
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
    )


class _Terminated(BaseException):
    """Raised in the supervising thread by the SIGTERM handler."""


class _RunState:
    """Iteration scheduling shared by the workers of one run."""

    def __init__(self, scenario: Scenario, run: RunContext, policy: FailurePolicy) -> None:
        self.scenario = scenario
        self.run = run
        self.policy = policy
        self.lock = threading.Lock()
        self.next = 0
        self.deadline = (
            time.monotonic() + scenario.run_for if scenario.run_for is not None else None
        )
        self.limit = scenario.iterations_planned
        # each check's severity, resolved through the thresholds (see _severities)
        self.severities: dict[str, str] = {c.name: c.severity for c in scenario.checks}

    def take(self) -> int | None:
        if self.run.stop_requested.is_set():
            return None
        with self.lock:
            if self.limit is not None and self.next >= self.limit:
                return None
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return None
            i = self.next
            self.next += 1
            return i

    @property
    def stop_reason(self) -> str | None:
        return self.run.stop_reason

    def stop(self, reason: str) -> None:
        self.run.request_stop(reason)


class Executor:
    """Runs scenarios. Settings are fixed at construction; one executor can run many.

    ``reporter`` is a :class:`~chaoskit.report.ReportBuilder` (or anything with
    ``on_event``/``build``) folding the events into the report, or a callable that receives
    the final :class:`Report`. ``subscribers`` are objects with ``attach(bus)``/``detach()``
    (metrics exporters, tracers). ``events_path`` records every event as JSON Lines.
    """

    def __init__(
        self,
        failure_policy: FailurePolicy = FAIL_FAST,
        *,
        logger: Any = None,
        json_logs: bool = False,
        log_level: str = "warning",
        reporter: Any = None,
        events_path: str | Path | None = None,
        thresholds: Any = None,
        subscribers: tuple[Any, ...] | list[Any] = (),
        progress: bool | None = None,
        stop_grace: float = 5.0,
    ) -> None:
        if not isinstance(failure_policy, FailurePolicy):
            raise ConfigError(
                f"failure_policy must be ck.FAIL_FAST or ck.CONTINUE_ON_FAILURE, got {failure_policy!r}"
            )
        self.failure_policy = failure_policy
        self.log = logger if logger is not None else make_logger(json_logs, log_level)
        self.reporter = reporter
        self.events_path = Path(events_path) if events_path is not None else None
        self.thresholds = thresholds
        self.subscribers = tuple(subscribers)
        self.progress = progress
        self.stop_grace = stop_grace

    # -- public ---------------------------------------------------------------------

    def run(self, scenario: Scenario) -> Report:
        """Run ``scenario`` to its end and return the report (never raises for failures)."""
        if not isinstance(scenario, Scenario):
            raise ConfigError(
                f"Executor.run expects a built Scenario (call .build()), got {type(scenario).__name__}"
            )
        seed = scenario.seed if scenario.seed is not None else new_seed()
        bus = EventBus()
        run = RunContext(bus=bus, seed=seed, scenario=scenario, name=scenario.name)
        state = _RunState(scenario, run, self.failure_policy)
        thresholds = scenario.thresholds if scenario.thresholds is not None else self.thresholds
        state.severities = _severities(scenario, thresholds)
        builder, on_report = self._builder(scenario)
        started = time.monotonic()
        interrupted: str | None = None
        self.log.info("run started", scenario=scenario.name, seed=seed)

        with contextlib.ExitStack() as outer:
            self._attach_outputs(outer, bus, scenario, builder)
            bus.publish(self._run_started(state, thresholds))
            _context._activate(run)
            outer.callback(_context._deactivate, run)
            main_loop = _LazyLoop()
            outer.callback(main_loop.close)
            try:
                with self._signals(state), contextlib.ExitStack() as stack:
                    self._call_hook(scenario.target, "setup", main_loop)
                    stack.callback(self._teardown, scenario, main_loop)
                    self._start_validators(stack, state)
                    self._start_injectors(stack, scenario, run)
                    if scenario.probes:
                        from chaoskit.hooks.probe import probe

                        stack.enter_context(probe(*scenario.probes, bus=bus))
                    interrupted = self._supervise(state, main_loop)
            except (KeyboardInterrupt, _Terminated) as exc:
                interrupted = "SIGTERM" if isinstance(exc, _Terminated) else "KeyboardInterrupt"
                state.stop(interrupted)
            finally:
                reason = interrupted or (
                    state.stop_reason if state.stop_reason in _INTERRUPTIONS else None
                )
                bus.publish(
                    RunFinished(
                        scenario=scenario.name,
                        duration=time.monotonic() - started,
                        interrupted=reason is not None,
                        reason=reason,
                    )
                )
        report: Report = builder.build()
        if on_report is not None:
            on_report(report)
        log = self.log.info if report.passed else self.log.warning
        log(
            "run finished",
            scenario=scenario.name,
            seed=seed,
            iterations=report.iterations,
            failed=report.failed_iterations,
            passed=report.passed,
            interrupted=report.interrupted,
        )
        return report

    # -- setup and teardown -----------------------------------------------------------

    def _builder(self, scenario: Scenario) -> tuple[Any, Callable[[Report], Any] | None]:
        thresholds = scenario.thresholds if scenario.thresholds is not None else self.thresholds
        reporter = self.reporter
        if reporter is None:
            return ReportBuilder(thresholds=thresholds), None
        if hasattr(reporter, "on_event") and hasattr(reporter, "build"):
            return reporter, None
        if callable(reporter):
            return ReportBuilder(thresholds=thresholds), reporter
        raise ConfigError(
            f"reporter must be a ReportBuilder or a callable taking the Report, got {reporter!r}"
        )

    def _attach_outputs(
        self, stack: contextlib.ExitStack, bus: EventBus, scenario: Scenario, builder: Any
    ) -> None:
        stack.callback(bus.subscribe(builder.on_event, getattr(builder, "event_kinds", None)))
        if self.events_path is not None:
            recorder = JsonlRecorder(self.events_path).attach(bus)
            stack.callback(recorder.close)
        for sub in self.subscribers:
            sub.attach(bus)
            stack.callback(sub.detach)
        if self.progress or (self.progress is None and _stderr_is_tty()):
            from chaoskit.report.progress import Progress

            prog = Progress(scenario.name, scenario.iterations_planned, scenario.run_for)
            prog.attach(bus)
            stack.callback(prog.close)

    def _run_started(self, state: _RunState, thresholds: Any) -> RunStarted:
        from chaoskit import __version__

        scenario = state.scenario
        return RunStarted(
            scenario=scenario.name,
            seed=state.run.seed,
            workers=scenario.workers,
            repeat=scenario.repeat,
            run_for=scenario.run_for,
            injectors=tuple(i.name for i in scenario.injectors),
            validators=tuple(c.name for c in scenario.checks),
            severities=dict(state.severities),
            chaoskit_version=__version__,
            thresholds=_thresholds_record(thresholds),
        )

    def _start_validators(self, stack: contextlib.ExitStack, state: _RunState) -> None:
        for check in state.scenario.checks:
            _set_name(check.validator, check.name)
            check.validator.start(state.run)
            stack.callback(self._finish_validator, check, state.run, state.severities[check.name])

    def _finish_validator(self, check: CheckSpec, run: RunContext, severity: str) -> None:
        """The end-of-run verdict (after injectors stopped), then stop the validator."""
        try:
            message = check.validator.finish(run)
        except Exception as exc:
            message = f"validator crashed at finish: {type(exc).__name__}: {exc}"
        run.emit(
            ValidatorVerdict(
                validator=check.name,
                passed=message is None,
                message=message or "",
                severity=severity,
                final=True,
            )
        )
        try:
            check.validator.stop(run)
        except Exception:
            self.log.exception("validator stop failed", validator=check.name)

    def _start_injectors(
        self, stack: contextlib.ExitStack, scenario: Scenario, run: RunContext
    ) -> None:
        for spec in scenario.injectors:
            _set_name(spec.injector, spec.name)
            spec.injector.start(run)
            stack.callback(self._stop_injector, spec.name, spec.injector, run)
            run.emit(InjectorStarted(injector=spec.name))
            self.log.debug("injector started", injector=spec.name)

    def _stop_injector(self, name: str, injector: Any, run: RunContext) -> None:
        try:
            injector.stop(run)
        except Exception:
            self.log.exception("injector stop failed", injector=name)
        metrics: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            metrics = dict(injector.metrics())
        run.emit(InjectorStopped(injector=name, metrics=metrics))

    def _call_hook(self, target: Any, hook: str, loop: _LazyLoop) -> None:
        fn = getattr(target, hook, None)
        if target is None or not callable(fn):
            return
        result = fn()
        if inspect.isawaitable(result):
            loop.get().run_until_complete(result)

    def _teardown(self, scenario: Scenario, loop: _LazyLoop) -> None:
        try:
            self._call_hook(scenario.target, "teardown", loop)
        except Exception:
            self.log.exception("target teardown failed", scenario=scenario.name)

    @contextlib.contextmanager
    def _signals(self, state: _RunState) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_term(signum: int, frame: FrameType | None) -> None:
            state.stop("SIGTERM")
            raise _Terminated()

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    # -- iterations ---------------------------------------------------------------------

    def _supervise(self, state: _RunState, main_loop: _LazyLoop) -> str | None:
        workers = [
            _Worker(
                # each worker runs in a copy of the caller's context, so context-scoped
                # settings (a test's failpoint scope) reach the steps
                target=contextvars.copy_context().run,
                args=(self._worker, state, n, main_loop if n == 0 else _LazyLoop()),
                name=f"chaoskit-worker-{n}",
                daemon=True,
            )
            for n in range(state.scenario.workers)
        ]
        for t in workers:
            t.start()
        try:
            while any(t.running for t in workers):
                for t in workers:
                    t.wait(0.05)
                if state.stop_reason == "hang":
                    self._reap(workers, state)
                    break
        except (KeyboardInterrupt, _Terminated) as exc:
            reason = "SIGTERM" if isinstance(exc, _Terminated) else "KeyboardInterrupt"
            state.stop(reason)
            self._reap(workers, state)
            return reason
        return None

    def _reap(self, workers: list[_Worker], state: _RunState) -> None:
        """After a stop: let workers finish, then interrupt them, then abandon them."""
        deadline = time.monotonic() + self.stop_grace
        interrupted = False
        while True:
            alive = [t for t in workers if t.running]
            if not alive:
                return
            now = time.monotonic()
            if now >= deadline:
                if interrupted:
                    self.log.warning(
                        "abandoning stuck worker threads", threads=[t.name for t in alive]
                    )
                    state.stop("abandoned")
                    return
                for t in alive:
                    if t.ident is not None:
                        async_raise(t.ident, RunInterrupted)
                interrupted = True
                deadline = now + 1.0
            try:
                alive[0].wait(0.05)
            except (KeyboardInterrupt, _Terminated):
                deadline = 0.0

    def _worker(self, state: _RunState, worker: int, loop: _LazyLoop) -> None:
        try:
            while True:
                i = state.take()
                if i is None:
                    return
                ok = self._iteration(state, i, worker, loop)
                if not ok and state.policy is FAIL_FAST:
                    state.stop("fail_fast")
        except RunInterrupted:
            return
        except BaseException:  # pragma: no cover - a bug in chaoskit itself
            self.log.exception("worker crashed", worker=worker)
            state.stop("worker crashed")
        finally:
            if worker != 0:
                loop.close()

    def _iteration(self, state: _RunState, i: int, worker: int, loop: _LazyLoop) -> bool:
        run = state.run
        scenario = state.scenario
        bus = run.bus
        ctx = IterationContext(run, i, None, worker, loop.current)
        token = _context._enter_iteration(ctx)
        error: BaseException | None = None
        failed_step: str | None = None
        step_events = bus.wants(StepStarted) or bus.wants(StepFinished)
        try:
            if bus.wants(IterationStarted):
                bus.publish(IterationStarted(iteration=i, worker=worker))
            for check in scenario.checks:
                check.validator.before_iteration(ctx)
            t0 = time.perf_counter()
            target = scenario.target
            for step in scenario.steps:
                ctx.step = step.name
                if step_events:
                    bus.publish(StepStarted(iteration=i, step=step.name))
                s0 = time.perf_counter()
                try:
                    result = step.fn(target)
                    if inspect.isawaitable(result):
                        aloop = loop.get()
                        ctx.loop = aloop
                        aloop.run_until_complete(_as_coroutine(result))
                except RunInterrupted:
                    raise
                except BaseException as exc:
                    # CancelledError, SystemExit, KeyboardInterrupt from a step fail the
                    # iteration like any error; the last two also end the run.
                    error = exc
                    failed_step = step.name
                    if isinstance(exc, _STOPPING):
                        state.stop(type(exc).__name__)
                if step_events:
                    bus.publish(
                        StepFinished(
                            iteration=i,
                            step=step.name,
                            duration=time.perf_counter() - s0,
                            ok=error is None,
                            error=_describe(error) if error is not None else None,
                            error_type=type(error).__name__ if error is not None else None,
                        )
                    )
                if error is not None:
                    break
            duration = time.perf_counter() - t0
            ctx.step = None
            violations = self._after_iteration(state, ctx)
            ok = error is None and not violations
            if not ok:
                self.log.debug(
                    "iteration failed",
                    iteration=i,
                    step=failed_step,
                    error=_describe(error) if error else None,
                    violations=violations,
                )
            bus.publish(
                IterationFinished(
                    iteration=i,
                    worker=worker,
                    duration=duration,
                    ok=ok,
                    step=failed_step,
                    error=_describe(error)
                    if error is not None
                    else ("; ".join(violations) if violations else None),
                    error_type=type(error).__name__ if error is not None else None,
                    violations=tuple(v.split(":", 1)[0] for v in violations),
                )
            )
            return ok
        finally:
            _context._exit_iteration(token)

    def _after_iteration(self, state: _RunState, ctx: IterationContext) -> list[str]:
        """Check every validator; only critical violations fail the iteration.

        Warnings and infos are recorded as verdicts: they make the run UNSTABLE (warnings)
        without lowering its success rate.
        """
        violations: list[str] = []
        for check in state.scenario.checks:
            try:
                message = check.validator.after_iteration(ctx)
            except Exception as exc:
                message = f"validator crashed: {type(exc).__name__}: {exc}"
            if message is None:
                continue
            ctx.run.bus.publish(
                ValidatorVerdict(
                    iteration=ctx.iteration,
                    validator=check.name,
                    passed=False,
                    message=message,
                    severity=state.severities[check.name],
                )
            )
            if state.severities[check.name] == "critical":
                violations.append(f"{check.name}: {message}")
        return violations


class _Worker(threading.Thread):
    """A worker thread whose end is known from its own flag, not from ``is_alive()``.

    On CPython < 3.13 a ``join()`` interrupted by Ctrl-C or the SIGTERM handler marks the
    thread as stopped while it still runs (bpo-45274 fix), so the supervisor would tear
    down the target under a running step; ``running`` stays True until ``run`` returns.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._finished = threading.Event()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._finished.set()

    @property
    def running(self) -> bool:
        return not self._finished.is_set() and self.ident is not None

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the thread to end (safe to interrupt)."""
        self._finished.wait(timeout)


class _LazyLoop:
    """An event loop created on first use and closed by whoever owns it."""

    def __init__(self) -> None:
        self.current: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        if self.current is None or self.current.is_closed():
            self.current = asyncio.new_event_loop()
        return self.current

    def close(self) -> None:
        loop = self.current
        if loop is None or loop.is_closed():
            return
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except Exception:  # pragma: no cover - best effort on a broken loop
            logging.getLogger("chaoskit").debug("event loop cleanup failed", exc_info=True)
        finally:
            loop.close()


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _set_name(obj: Any, name: str) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        obj.name = name


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def run(scenario: Scenario, **executor_options: Any) -> Report:
    """Run ``scenario``; return the report, or raise :class:`ScenarioFailed` carrying it."""
    report = Executor(**executor_options).run(scenario)
    if not report.passed:
        raise ScenarioFailed(report)
    return report


def _severities(scenario: Scenario, thresholds: Any) -> dict[str, str]:
    """Each check's severity for the report: the user's choice, else the thresholds' lists
    (by check name or validator kind), else the validator's default."""
    from chaoskit.thresholds import DEFAULT, preset

    return (preset(thresholds) if thresholds is not None else DEFAULT).resolve_checks(
        scenario.checks
    )


def _thresholds_record(thresholds: Any) -> dict[str, Any] | None:
    """The thresholds as recorded in RunStarted, so `chaoskit report` judges alike."""
    if thresholds is None:
        return None
    from chaoskit.thresholds import preset

    return preset(thresholds).to_dict()
