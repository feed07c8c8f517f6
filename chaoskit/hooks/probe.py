"""The automatic probe: recursion depth, exceptions and hangs measured without code changes.

    with chaoskit.hooks.probe("myapp.saga", "myapp.jobs:retry") as p:
        run_the_workload()
    p.max_depths        # {"myapp.saga:Saga.compensate": 12, "myapp.jobs:retry": 1, ...}

A probe watches scopes (a module and its submodules, a class, or one function) and
measures, per thread and per asyncio task, how deep each function in scope recursed
(mutual recursion counts as one chain), which exceptions were raised inside the scope and
whether they were handled there or escaped. Given an :class:`~chaoskit.events.EventBus`
(the executor passes the run's bus for scenarios built with ``.probe(...)``) it publishes
:class:`~chaoskit.events.RecursionDepth` on each new maximum per function per iteration
and :class:`~chaoskit.events.ExceptionRaised` once each exception's fate is known.

Backends sit behind :class:`ProbeBackend` and are chosen by :func:`select_backend`:
``sys.monitoring`` (3.12+, local events on the code in scope, a free tool id),
``settrace`` (3.11, or no tool id free) or ``setprofile`` (the trace slot is taken by
coverage.py or a debugger, which the probe never displaces). Each runs its hot paths in C
when the optional accelerator is built (:mod:`chaoskit.hooks.probe_core`; ``core``, or
``CHAOSKIT_PROBE_CORE``, forces ``"c"`` or ``"python"``). The choices and their reasons are
on the probe (``backend``, ``core``, ``backend_reason``) and logged.

:func:`active_probes` and :meth:`Probe.loop_info` let the hang watchdog say which function
in scope a stuck thread loops in and how many iterations it counted.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from chaoskit import context
from chaoskit.errors import ChaosKitError, ConfigError
from chaoskit.events import EventBus, ExceptionRaised, IterationFinished, IterationStarted
from chaoskit.hooks.probe_core import check_core, select_core
from chaoskit.hooks.probe_imports import ImportWatcher
from chaoskit.hooks.probe_scope import (
    Scope,
    check_importable,
    parse_scope,
    resolve_code,
    resolve_module,
    resolve_scope,
)
from chaoskit.hooks.probe_state import Recorder
from chaoskit.hooks.probe_state import log as _log
from chaoskit.hooks.probe_sysmon import SysMonitoringBackend, free_tool_id
from chaoskit.hooks.probe_trace import SetprofileBackend, SettraceBackend
from chaoskit.hooks.sampler import Sampler

__all__ = [
    "BACKENDS",
    "Probe",
    "ProbeBackend",
    "active_probes",
    "probe",
    "select_backend",
]


BACKENDS = ("sys.monitoring", "settrace", "setprofile")
DEFAULT_LOOP_WINDOW = 0.2


class ProbeBackend(Protocol):
    """What a measurement backend does; the :class:`Recorder` holds the results."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None:
        """Restore every callback, trace function and tool id as it was."""

    def disable(self) -> None:
        """Stop measuring at once (after an internal error); :meth:`stop` still follows."""

    def add_codes(self, codes: Iterable[types.CodeType]) -> None: ...

    def rearm(self) -> None:
        """Reinstall in the calling thread whatever the interpreter dropped."""

    def count_loops(
        self, thread_id: int, codes: Sequence[types.CodeType], window: float
    ) -> dict[types.CodeType, int]:
        """Loop iterations per code object that ``thread_id`` ran during ``window``."""


def select_backend(prefer: str | None = None) -> tuple[str, str, int | None]:
    """``(backend name, reason, tool id)`` for a new probe; ``prefer`` forces a backend."""
    if prefer is not None:
        if prefer not in BACKENDS:
            raise ConfigError(
                f"unknown probe backend (choose one of {', '.join(BACKENDS)})", text=prefer
            )
        if prefer == "sys.monitoring":
            tool, why = free_tool_id()
            if tool is None:
                raise ConfigError(f"probe backend unavailable: {why}", text=prefer)
            return prefer, f"requested; {why}", tool
        return prefer, "requested", None
    tool, why = free_tool_id()
    if tool is not None:
        return "sys.monitoring", f"{why}; local events on the code in scope only", tool
    trace = sys.gettrace()
    if trace is None:
        return "settrace", f"{why}; the settrace slot is free", None
    holder = _describe(trace)
    profile = sys.getprofile()
    if profile is None:
        return (
            "setprofile",
            f"{why}; settrace is taken by {holder} (coverage or a debugger), which the "
            "probe does not displace: depths only, no exception or loop reports",
            None,
        )
    return (
        "setprofile",
        f"{why}; settrace is taken by {holder} and setprofile by {_describe(profile)}: "
        "chaining after the profile function (depths only)",
        None,
    )


def _describe(fn: object) -> str:
    """``module.qualname`` of whatever holds a trace or profile slot (a function, a CTracer)."""
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None) or type(fn).__module__
    return f"{module}.{name}"


_active: list[Probe] = []
_active_lock = threading.Lock()


def active_probes() -> list[Probe]:
    """The probes running right now, oldest first."""
    with _active_lock:
        return list(_active)


class Probe:
    """A running (or finished) probe over some scopes. Use :func:`probe` to make one."""

    def __init__(
        self,
        scopes: Sequence[str],
        *,
        bus: EventBus | None = None,
        sampling: bool = False,
        backend: str | None = None,
        sample_interval: float = 0.05,
        sample_threshold: int = 20,
        core: str | None = None,
        pending_modules: Iterable[str] = (),
    ) -> None:
        if not scopes and not sampling:
            raise ConfigError(
                "a probe needs at least one scope ('pkg.module', 'pkg.module:Class' or "
                "'pkg.module:function') or sampling=True",
                text="",
            )
        parsed = [parse_scope(s) for s in scopes]
        # modules whose code is handed to watch_module_code before it runs
        self._pending = frozenset(pending_modules)
        for scope in parsed:
            if scope.module not in self._pending:
                check_importable(scope)
        if backend is not None:
            select_backend(backend)  # validates the name now
        check_core(core)  # and the core's (or $CHAOSKIT_PROBE_CORE)
        self._prefer_core = core
        self.scopes: tuple[Scope, ...] = tuple(parsed)
        self._names: dict[types.CodeType, str] = {}
        # id -> code: code objects compare equal by content (a reloaded module's functions
        # equal the old ones), but monitoring is per object, so membership is by identity
        self._codes: dict[int, types.CodeType] = {}
        # functions found in scope, to notice a code swap (patch, failpoint) later on
        self._functions: list[types.FunctionType] = []
        self._bus = bus
        self._prefer = backend
        self._recorder: Recorder | None = None
        self._backend: ProbeBackend | None = None
        self._watcher: ImportWatcher | None = None
        self._unsubscribe: list[Any] = []
        self._sampler: Sampler | None = None
        if sampling:
            self._sampler = Sampler(
                interval=sample_interval,
                threshold=sample_threshold,
                on_recursion=self.watch_codes,
                exclude=self._codes,  # ids
            )
        self._state = "new"
        self._lock = threading.RLock()
        self.backend = ""
        self.backend_reason = ""
        self.core = ""  # "c" or "python" once started
        # scopes found wrong when their module was imported after the probe started
        self.unresolved: list[str] = []
        self.tool_id: int | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Probe:
        with self._lock:
            if self._state != "new":
                raise ChaosKitError(f"this probe was already {self._state}; make a new one")
            for scope in self.scopes:
                if scope.module not in self._pending:
                    self._names.update(resolve_scope(scope, self._functions))
            self._codes.update((id(code), code) for code in self._names)
            name, reason, tool = select_backend(self._prefer)
            core_module, core, core_reason = select_core(name, self._prefer_core)
            reason = f"{reason}; {core_reason}"
            bus = self._bus
            if bus is None:
                run = context.current_run()
                bus = run.bus if run is not None else None
            recorder = Recorder(self._names, bus)
            self._recorder = recorder
            backend: ProbeBackend
            if name == "sys.monitoring":
                assert tool is not None
                backend = SysMonitoringBackend(recorder, self._codes.values(), tool, core_module)
            elif name == "settrace":
                backend = SettraceBackend(recorder, self._codes.values(), core_module)
            else:
                backend = SetprofileBackend(recorder, self._codes.values(), core_module)
            self._backend = backend
            self.backend, self.backend_reason, self.tool_id = name, reason, tool
            self.core = core
            recorder.on_failure = backend.disable
            if bus is not None:
                self._unsubscribe.append(
                    bus.subscribe(self._on_iteration, (IterationStarted, IterationFinished))
                )
            try:
                backend.start()
                if self.scopes:
                    self._watcher = ImportWatcher(self._watches, self._on_import)
                    self._watcher.install()
                if self._sampler is not None:
                    self._sampler.start()
            except BaseException:
                self._teardown()
                raise
            self._state = "running"
            reached = getattr(backend, "reached_existing", 0)
            if reached:
                reason = self.backend_reason = (
                    f"{reason}; reached {reached} thread(s) already running"
                )
            with _active_lock:
                _active.append(self)
        _log.info(
            "probe started",
            backend=name,
            core=self.core,
            reason=reason,
            scopes=[s.text for s in self.scopes],
            code_objects=len(self._codes),
        )
        return self

    def stop(self) -> None:
        with self._lock:
            if self._state != "running":
                return
            self._state = "stopped"
            with _active_lock:
                if self in _active:
                    _active.remove(self)
            self._teardown()
        _log.debug("probe stopped", backend=self.backend, max_depths=self.max_depths)

    def _teardown(self) -> None:
        """Undo everything, each step even if an earlier one failed (then re-raise)."""
        steps: list[Any] = []
        if self._sampler is not None:
            steps.append(self._sampler.stop)
        if self._watcher is not None:
            steps.append(self._watcher.uninstall)
        if self._backend is not None:
            steps.append(self._backend.stop)
        steps.extend(self._unsubscribe)
        self._unsubscribe.clear()
        if self._recorder is not None:
            steps.append(self._recorder.flush)
        failure: BaseException | None = None
        for step in steps:
            try:
                step()
            except BaseException as exc:  # keep undoing; report the first failure
                _log.error("probe teardown step failed", step=repr(step), error=repr(exc))
                failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self) -> Probe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._state == "running"

    # --- results ------------------------------------------------------------------------

    @property
    def max_depths(self) -> dict[str, int]:
        """``{"module:qualname": deepest depth}`` over the probe's life, every thread/task."""
        return self._recorder.max_depths() if self._recorder is not None else {}

    @property
    def exceptions(self) -> list[ExceptionRaised]:
        """Exceptions seen in scope, each with ``handled`` (caught in scope) once known."""
        rec = self._recorder
        return list(rec.exceptions) if rec is not None else []

    @property
    def sampled_depths(self) -> dict[str, int]:
        """With ``sampling=True``: deepest sampled stacks of code found recursing anywhere."""
        return self._sampler.depths if self._sampler is not None else {}

    @property
    def error(self) -> str | None:
        """Why the probe switched itself off, if an internal error made it do so."""
        return self._recorder.failed if self._recorder is not None else None

    @property
    def watched(self) -> list[str]:
        """Names of the functions in scope (resolved so far)."""
        return sorted(set(self._names.values()))

    # --- scopes growing -----------------------------------------------------------------

    def _watches(self, module_name: str) -> bool:
        return any(scope.watches(module_name) for scope in self.scopes)

    def _on_import(self, module: types.ModuleType) -> None:
        found: dict[types.CodeType, str] = {}
        for scope in self.scopes:
            if scope.watches(module.__name__):
                try:
                    found.update(resolve_module(scope, module, self._functions))
                except ConfigError as exc:
                    # raising would break the program's import: say it loudly instead
                    self.unresolved.append(str(exc))
                    _log.warning("probe scope names nothing", scope=scope.text, error=str(exc))
        if found:
            self._add(found)

    def refresh(self) -> None:
        """Follow code swaps and reinstall what the interpreter dropped in this thread.

        The patcher and armed failpoints replace ``__code__`` on the function object: the
        new code is watched from now on. CPython drops a settrace/setprofile function when
        calling it fails (at the recursion limit): it is put back for the calling thread.
        The probe does this at each iteration start; call it yourself otherwise.
        """
        if self._backend is not None and self._state == "running":
            self._backend.rearm()
        found: dict[types.CodeType, str] = {}
        for fn in list(self._functions):
            code = fn.__code__
            if id(code) not in self._codes:
                module = getattr(fn, "__module__", None) or "?"
                for nested in _nested_of(code):
                    found[nested] = f"{module}:{nested.co_qualname}"
        if found:
            self._add(found)

    def watch_module_code(self, code: types.CodeType) -> None:
        """Watch what the scopes of the pending modules name in ``code``, a module's code
        about to run (the instrument wrapper's program, which runs as ``__main__``: its
        functions do not exist when the probe starts). A scope that names nothing there
        is reported in :attr:`unresolved` and logged, not raised: the program is starting.
        """
        found: dict[types.CodeType, str] = {}
        for scope in self.scopes:
            if scope.module in self._pending:
                try:
                    found.update(resolve_code(scope, code))
                except ConfigError as exc:
                    self.unresolved.append(str(exc))
                    _log.warning("probe scope names nothing", scope=scope.text, error=str(exc))
            elif scope.qualname is None:
                # a package scope whose submodule is the program (``--probe pkg -m pkg``
                # runs ``pkg.__main__``): that module's functions are in the scope too
                for name in sorted(self._pending):
                    if scope.watches(name):
                        found.update(resolve_code(Scope(name), code))
        if found:
            self._add(found)

    def watch_codes(self, codes: Iterable[types.CodeType]) -> None:
        """Measure these code objects exactly from now on (the sampler promotes to this)."""
        rec = self._recorder
        found = {code: rec.name_of(code) if rec else code.co_qualname for code in codes}
        self._add(found)

    def _add(self, found: dict[types.CodeType, str]) -> None:
        with self._lock:
            new = {c: n for c, n in found.items() if id(c) not in self._codes}
            if not new:
                return
            self._names.update(new)
            self._codes.update((id(code), code) for code in new)
            if self._backend is not None and self._state == "running":
                self._backend.add_codes(new)
        _log.debug("probe watches more code", functions=sorted(set(new.values())))

    # --- iterations ---------------------------------------------------------------------

    def _on_iteration(self, event: object) -> None:
        rec = self._recorder
        if rec is None:
            return
        if isinstance(event, IterationStarted):
            self.refresh()
            rec.iteration_started(event.iteration)
        elif isinstance(event, IterationFinished):
            rec.iteration_finished(event.iteration)

    # --- hangs --------------------------------------------------------------------------

    def loop_info(
        self, thread_id: int, *, window: float = DEFAULT_LOOP_WINDOW
    ) -> tuple[str, int] | None:
        """The in-scope function ``thread_id`` is stuck in and the iterations it counted.

        Looks at the thread's stack now; None when no frame of it is in scope. Then counts,
        for ``window`` seconds, the loop iterations (backward jumps) in each in-scope frame
        of that thread and names the innermost one that looped; when none looped (blocked
        in a call, or the setprofile backend, which cannot count), the innermost in-scope
        frame with 0.
        """
        backend = self._backend
        rec = self._recorder
        if backend is None or rec is None or self._state != "running":
            return None
        frame = sys._current_frames().get(thread_id)
        inner: list[types.CodeType] = []
        while frame is not None:
            if id(frame.f_code) in self._codes and frame.f_code not in inner:
                inner.append(frame.f_code)
            frame = frame.f_back
        if not inner:
            return None
        counts = backend.count_loops(thread_id, inner, window)
        for code in inner:
            if counts.get(code, 0) > 0:
                return rec.name_of(code), counts[code]
        return rec.name_of(inner[0]), 0

    def __repr__(self) -> str:
        scopes = ", ".join(s.text for s in self.scopes)
        core = f" core={self.core}" if self.core else ""
        return f"<Probe [{scopes}] {self._state} backend={self.backend or '?'}{core}>"


def _nested_of(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out.extend(_nested_of(const))
    return out


def probe(
    *scopes: str,
    bus: EventBus | None = None,
    sampling: bool = False,
    backend: str | None = None,
    sample_interval: float = 0.05,
    sample_threshold: int = 20,
    core: str | None = None,
    pending_modules: Iterable[str] = (),
) -> Probe:
    """A probe over ``scopes``; use it as a context manager (or ``start()``/``stop()``).

    ``bus``: publish depth and exception events there (default: the running scenario's
    bus, if any). ``sampling``: also sample every thread's stack every ``sample_interval``
    seconds and promote code found ``sample_threshold`` frames deep to exact monitoring.
    ``backend``: force ``"sys.monitoring"``, ``"settrace"`` or ``"setprofile"``.
    ``core``: force the C accelerator (``"c"``) or pure-Python callbacks (``"python"``);
    default: ``$CHAOSKIT_PROBE_CORE``, else C when built.
    ``pending_modules``: scopes in these modules are resolved from code handed to
    :meth:`Probe.watch_module_code` (a program about to run as ``__main__``), not at start.
    Scope errors raise :class:`~chaoskit.errors.ConfigError` here, before anything starts.
    """
    return Probe(
        scopes,
        bus=bus,
        sampling=sampling,
        backend=backend,
        sample_interval=sample_interval,
        sample_threshold=sample_threshold,
        core=core,
        pending_modules=pending_modules,
    )


class _CallableModule(types.ModuleType):
    """``chaoskit.hooks.probe`` is both this module and the function, whichever is bound."""

    def __call__(self, *scopes: str, **kwargs: Any) -> Probe:
        return probe(*scopes, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
# ``chaoskit.hooks.probe`` may be bound to the function (lazy import): keep the module's
# helpers reachable from it too.
probe.active_probes = active_probes  # type: ignore[attr-defined]
probe.Probe = Probe  # type: ignore[attr-defined]
