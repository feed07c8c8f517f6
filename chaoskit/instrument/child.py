"""Activation inside a child Python process started by an instrumented program.

The bootstrap ``sitecustomize`` calls :func:`activate` when ``CHAOSKIT_INSTRUMENT`` is set.
Failpoints and patches come from ``CHAOSKIT_FAILPOINTS`` (applied by importing
:mod:`chaoskit.failpoints`); the probe is entered; at exit this process's counts are
written to the run's stats directory for the wrapper to merge.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["activate"]

log = logging.getLogger("chaoskit.instrument")

_ENV_CONFIG = "CHAOSKIT_INSTRUMENT"
_ENV_GUARD = "CHAOSKIT_INSTRUMENT_PID"


def activate() -> bool:
    """Instrument this process once; False if already done or nothing to do."""
    raw = os.environ.get(_ENV_CONFIG)
    if not raw or os.environ.get(_ENV_GUARD) == str(os.getpid()):
        return False
    os.environ[_ENV_GUARD] = str(os.getpid())
    try:
        config: dict[str, Any] = json.loads(raw)
    except ValueError:
        log.warning("chaoskit: ignoring malformed %s", _ENV_CONFIG)
        return False
    entries: list[tuple[str, str]] = []
    text = os.environ.get("CHAOSKIT_FAILPOINTS", "")
    if text.strip():
        from chaoskit.failpoints.terms import parse_entries

        entries = [(n, str(t)) for n, t in parse_entries(text, source="CHAOSKIT_FAILPOINTS")]
        import chaoskit.failpoints  # noqa: F401  (applies CHAOSKIT_FAILPOINTS)
    for spec in config.get("redirects") or ():
        try:
            from chaoskit.netchaos.redirect import redirect

            target, _, via = str(spec).partition("=")
            redirect(target, via or None).__enter__()
        except Exception:
            log.exception("chaoskit: redirect %s not started in child process", spec)
    probes: list[Any] = []
    # the names of the parent's program (``__main__``, the ``-m`` module): a spawn child
    # runs that program again as ``__mp_main__``, which no import hook sees
    main_modules = [str(m) for m in config.get("main_modules") or ("__main__",)]
    main_scopes: list[str] = []
    for scope in config.get("probes") or ():
        module, _, qualname = str(scope).partition(":")
        if module in main_modules:
            main_scopes.append(str(scope))
            continue
        _start_probe_when_imported(str(scope), probes)
        if not qualname:  # a package whose submodule is the program (-m pkg: pkg.__main__)
            main_scopes += [m for m in main_modules if m.startswith(module + ".")]
    main_targets = [(str(n), str(t)) for n, t in config.get("main") or ()]
    main_status: dict[str, str] = {}
    if main_targets or main_scopes:
        _arm_mp_main_when_spawned(
            main_targets,
            main_status,
            main_scopes=main_scopes,
            main_modules=main_modules,
            probes=probes,
        )
    stats = config.get("stats")
    if stats:
        _at_exit(lambda: _write_stats(Path(stats), entries, probes, main_targets, main_status))
    return True


def _at_exit(write: Callable[[], None]) -> None:
    """Run ``write`` once when this process ends, however it ends that can be caught.

    ``atexit`` covers ordinary programs. ``multiprocessing`` children leave through
    ``os._exit`` after running its finalizers (so a finalizer is registered when the
    child uses multiprocessing), and pool workers are stopped by ``terminate()``, which
    sends SIGTERM (so, while nothing else handles SIGTERM, the statistics are written
    before the process dies by that signal as it would have).
    """
    state = {"started": False, "finished": False, "sigterm": False}

    def once() -> None:
        if state["started"]:
            return
        state["started"] = True
        try:
            write()
        finally:
            state["finished"] = True
            if state["sigterm"]:
                die_by_sigterm()

    atexit.register(once)

    def finalize_with(util: Any) -> None:
        util.Finalize(None, once, exitpriority=0)

    from chaoskit.hooks.importhook import when_imported

    when_imported("multiprocessing.util", finalize_with)
    import signal

    def die_by_sigterm() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_sigterm(signum: int, frame: object) -> None:
        state["sigterm"] = True
        if state["finished"]:
            die_by_sigterm()
        elif not state["started"]:
            once()
        # else: the signal interrupted the write; once() dies when it is done

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_sigterm)


def _start_probe_when_imported(scope: str, probes: list[Any]) -> None:
    """Start a probe over ``scope`` once its module can be imported.

    At ``sitecustomize`` time the program's own directory is not on ``sys.path`` yet, so a
    scope in the program's modules is started by the import hook when it is imported.
    """
    from chaoskit.hooks.importhook import when_imported

    module = scope.partition(":")[0]

    def start(_module: object) -> None:
        try:
            from chaoskit.hooks.probe import probe as make_probe

            p = make_probe(scope)
            p.__enter__()
            probes.append(p)
        except Exception:
            log.exception("chaoskit: probe %s not started in child process", scope)

    def once(mod: object) -> None:
        watch.cancel()
        start(mod)

    if module in sys.modules:
        start(sys.modules[module])
        return
    watch = when_imported(module, once, now=False)


def _arm_mp_main_when_spawned(
    targets: list[tuple[str, str]],
    status: dict[str, str],
    *,
    main_scopes: list[str] | None = None,
    main_modules: list[str] | None = None,
    probes: list[Any] | None = None,
) -> None:
    """Arm the program's ``__main__`` targets and probe scopes in a ``multiprocessing``
    spawn child.

    Such a child runs the parent's main script (or ``-m`` module) again as ``__mp_main__``
    through runpy, which no import hook sees; ``multiprocessing.spawn`` does it in
    ``_fixup_main_from_path`` / ``_fixup_main_from_name`` (private, present on CPython
    3.11 to 3.13), and both run the code through ``runpy._run_module_code``: the targets
    are armed in that code before it runs (:func:`_prepare_mp_main`, as the wrapper does
    for ``__main__``), and a probe over the scopes naming the program (``main_scopes``,
    appended to ``probes``) watches the armed code. Targets not found among the code's
    constants are armed after the fix-up returns, on the functions the script defined.
    ``status`` gets "patched" or "unresolved" per target for the summary.
    """
    from chaoskit.hooks.importhook import when_imported

    def run_watched(original: Any) -> Any:
        import runpy

        run_module_code = runpy._run_module_code  # type: ignore[attr-defined]

        def capture(code: Any, *args: Any, **kwargs: Any) -> Any:
            runpy._run_module_code = run_module_code  # type: ignore[attr-defined]
            try:
                code = _prepare_mp_main(code, targets, status, main_scopes, main_modules, probes)
            except Exception:
                log.exception("chaoskit: __main__ targets and probe scopes not prepared")
            return run_module_code(code, *args, **kwargs)

        runpy._run_module_code = capture  # type: ignore[attr-defined]
        try:
            return original()
        finally:
            runpy._run_module_code = run_module_code  # type: ignore[attr-defined]

    def wrap(spawn: Any) -> None:
        for attr in ("_fixup_main_from_path", "_fixup_main_from_name"):
            original = getattr(spawn, attr, None)
            if original is None:
                log.warning(
                    "chaoskit: multiprocessing.spawn.%s is gone; __main__ targets "
                    "are not armed in spawned children",
                    attr,
                )
                continue

            def fixup(*args: Any, _original: Any = original) -> Any:
                result = run_watched(lambda: _original(*args))
                _arm_in(sys.modules.get("__mp_main__"), targets, status)
                return result

            setattr(spawn, attr, fixup)

    when_imported("multiprocessing.spawn", wrap)


def _prepare_mp_main(
    code: Any,
    targets: list[tuple[str, str]],
    status: dict[str, str],
    main_scopes: list[str] | None,
    main_modules: list[str] | None,
    probes: list[Any] | None,
) -> Any:
    """Arm the targets in the program's code before it runs as ``__mp_main__`` (as the
    wrapper does for ``__main__``), then hand the armed code to a probe over the program's
    scopes. Targets not found among the code's constants are left to :func:`_arm_in`."""
    if targets:
        from chaoskit.failpoints import registry
        from chaoskit.hooks.patch_code import arm_constants

        wanted = {n.partition(":")[2]: n for n, _ in targets if n not in status}
        code, found = arm_constants(code, wanted)
        for name, terms in targets:
            if name not in status and name.partition(":")[2] in found:
                registry.enable(name, terms, scope=registry.ROOT)
                status[name] = "patched"
    if main_scopes and probes is not None:
        from chaoskit.hooks.probe import probe as make_probe

        p = make_probe(*main_scopes, pending_modules=frozenset(main_modules or ()))
        p.__enter__()
        probes.append(p)
        p.watch_module_code(code)
    return code


def _arm_in(module: Any, targets: list[tuple[str, str]], status: dict[str, str]) -> None:
    from chaoskit.errors import ConfigError
    from chaoskit.failpoints import registry
    from chaoskit.hooks import codeswap, patch_eval
    from chaoskit.hooks.resolve import Target, resolve

    if module is None:
        return
    for name, terms in targets:
        if name in status:
            continue
        try:
            found = resolve(Target(module.__name__, name.partition(":")[2]), module)
        except ConfigError:
            status[name] = "unresolved"
            continue
        registry.enable(name, terms, scope=registry.ROOT)
        for function in found.functions:
            codeswap.arm(
                function,
                name,
                evaluate=patch_eval.evaluate,
                evaluate_async=patch_eval.evaluate_async,
                no_value=patch_eval.NO_VALUE,
            )
        status[name] = "patched" if found.functions else "unresolved"


def _write_stats(
    directory: Path,
    entries: list[tuple[str, str]],
    probes: list[Any],
    main_targets: list[tuple[str, str]],
    main_status: dict[str, str],
) -> None:
    try:
        from chaoskit.instrument.summary import snapshot

        # __main__ targets count only where the child armed them (spawn children)
        named = {n for n, _ in entries}
        counted = entries + [(n, t) for n, t in main_targets if n in main_status and n not in named]
        snap = snapshot(counted, main_status) if counted else {"pid": os.getpid(), "targets": {}}
        if entries:
            from chaoskit.hooks.patcher import active_patches

            for handle in active_patches():  # rendering below may use patched functions
                handle.undo()
        depths: dict[str, int] = {}
        for p in probes:
            p.__exit__(None, None, None)
            for function, depth in (getattr(p, "max_depths", None) or {}).items():
                depths[function] = max(depths.get(function, 0), depth)
        snap["max_depths"] = depths
        if directory.is_dir():
            tmp = directory / f".{os.getpid()}.tmp"
            tmp.write_text(json.dumps(snap))
            tmp.replace(directory / f"{os.getpid()}.json")
    except Exception:
        log.exception("chaoskit: cannot write child statistics")
