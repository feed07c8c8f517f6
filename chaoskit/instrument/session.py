"""One instrumented run: apply the settings, propagate them, summarise at exit.

:class:`Session` is what ``python -m chaoskit.instrument`` drives: ``start()`` applies every
failpoint and patch (``__main__`` targets are armed in the program's code by
:meth:`transform`), seeds the RNG, enters the probe, sets up child-process propagation and
registers the exit handler that prints the summary, writes the report and enforces
``--strict``. ``stop()`` undoes everything it installed.
"""

from __future__ import annotations

import atexit
import os
import sys
import types

from chaoskit.instrument.config import Settings

# Start-up time: this module is imported on every run of the wrapper, so what only some
# runs need (json, tempfile, shutil, signal, the failpoint machinery) is imported there.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = ["BOOTSTRAP_DIR", "ENV_CONFIG", "ENV_GUARD", "STRICT_EXIT_CODE", "Session"]


def _log_exception(message: str) -> None:
    import logging

    logging.getLogger("chaoskit.instrument").exception(message)


BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "bootstrap")
ENV_CONFIG = "CHAOSKIT_INSTRUMENT"  # JSON settings for instrumented children
ENV_GUARD = "CHAOSKIT_INSTRUMENT_PID"  # the pid that already activated (idempotence)
STRICT_EXIT_CODE = 2


class Session:
    """``main_module``: the module name that ``-m`` runs as ``__main__`` (its targets are
    ``__main__``'s, so ``-f app.cli:main=... -m app.cli`` patches the running program)."""

    def __init__(self, settings: Settings, program: str, main_module: str | None = None) -> None:
        self.settings = settings
        self.program = program
        self.entries = [(name, terms) for name, terms, _ in settings.entries]
        main_names = {"__main__", main_module}
        # modules that are the program: their targets and probe scopes apply to its code
        self.main_names = frozenset(n for n in main_names if n)
        self.main_targets = {
            n: t for n, t in self.entries if ":" in n and n.partition(":")[0] in main_names
        }
        self.main_status: dict[str, str] = {}
        self.exit_code: int | None = None
        self.seed = 0
        # what to undo, in reverse order (an ExitStack without importing contextlib, which
        # ``python -m`` itself does not load on 3.12+)
        self._undo: list[Callable[[], object]] = []
        self._stats_dir: str | None = None
        self._saved_env: dict[str, str | None] = {}
        self._probe: Any = None
        self._finished = False
        self.notes: list[str] = []

    # --- start ---------------------------------------------------------------------------

    def start(self) -> None:
        """Apply everything (raises ConfigError before changing anything it cannot apply)."""
        from chaoskit import rng

        if self.settings.seed is not None:
            rng.reseed_global(self.settings.seed)
        self.seed = rng.global_seed()
        # The merged entries replace CHAOSKIT_FAILPOINTS: keep the failpoints package from
        # applying the user's variable a second time when it is imported.
        self._set_env("CHAOSKIT_FAILPOINTS", None)
        # Strictness is enforced here (exit 2, targets included), not by the failpoints
        # package's own exit-time check.
        self._set_env("CHAOSKIT_STRICT", None)
        if self.entries:
            # Imported now, it reads the environment without our entries (applied below);
            # imported after _propagate, it would apply them a second time. (If
            # ``import chaoskit`` already imported it, _apply_entries skips duplicates.)
            import chaoskit.failpoints  # noqa: F401
        try:
            # Redirects and the environment first: the patches may hit what they use.
            via = [self._start_redirect(spec) for spec in self.settings.redirects]
            if self.settings.propagate and self._instruments:
                self._propagate([v for v in via if v is not None])
            if self.entries:
                self._apply_entries()
            if self.settings.probes:
                self._start_probe()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.finish)
        if self._instruments or self.settings.report:
            self._catch_sigterm()

    @property
    def _instruments(self) -> bool:
        """Whether the run changes anything that children inherit or that exit must count."""
        return bool(self.entries or self.settings.probes or self.settings.redirects)

    def _catch_sigterm(self) -> None:
        """On SIGTERM (default disposition only) finish, then die by SIGTERM as before."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the program's environment set one: leave it alone

        def on_sigterm(signum: int, frame: object) -> None:
            self.exit_code = -signum
            self.finish()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
        self._undo.append(lambda: self._restore_sigterm(on_sigterm))

    @staticmethod
    def _restore_sigterm(handler: object) -> None:
        import signal

        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _set_env(self, key: str, value: str | None) -> None:
        if key not in self._saved_env:
            self._saved_env[key] = os.environ.get(key)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

    def _apply_entries(self) -> None:
        from chaoskit.hooks.patcher import active_patches, patch_on_import

        # ``import chaoskit`` may already have applied CHAOSKIT_FAILPOINTS: don't stack the
        # same patch twice.
        live = {(h.target, h.terms) for h in active_patches()}
        for name, terms in self.entries:
            module = name.partition(":")[0] if ":" in name else None
            # A target named after the -m module is armed in the program by transform; the
            # patch also reaches the module when the program imports it by name (a second
            # copy of it, as under plain ``python -m``). Its handle enables the failpoint.
            if module is not None and module != "__main__":
                if (name, terms) not in live:
                    self._undo.append(patch_on_import(name, terms).undo)
            else:  # a failpoint name, or a __main__ target (armed by transform)
                self._enable(name, terms)

    def _enable(self, name: str, terms: str) -> None:
        from chaoskit.failpoints import registry

        registry.enable(name, terms, scope=registry.ROOT)
        self._undo.append(lambda: registry.disable(name, scope=registry.ROOT))

    def _enter(self, manager: AbstractContextManager[T]) -> T:
        value = manager.__enter__()
        self._undo.append(lambda: manager.__exit__(None, None, None))
        return value

    def _start_probe(self) -> None:
        from chaoskit.hooks.probe import probe as make_probe

        self._probe = self._enter(
            make_probe(*self.settings.probes, pending_modules=self.main_names)
        )

    def _start_redirect(self, spec: str) -> str | None:
        """Start ``TARGET[=VIA]``; return ``TARGET=ADDRESS`` for children (same proxy)."""
        from chaoskit.netchaos.redirect import redirect

        target, _, via = spec.partition("=")
        r = self._enter(redirect(target.strip(), via.strip() or None))
        host, port = r.address
        return f"{target.strip()}={host}:{port}" if port else None

    def _propagate(self, redirects: list[str]) -> None:
        import json
        import tempfile

        self._stats_dir = tempfile.mkdtemp(prefix="chaoskit-instrument-")
        # entries were validated; the activation grammar splits on ';' outside quotes
        # A child that imports the -m module by name gets its targets as usual.
        child_entries = [f"{n}={t}" for n, t in self.entries if not n.startswith("__main__:")]
        self._set_env("CHAOSKIT_FAILPOINTS", ";".join(child_entries) or None)
        self._set_env("CHAOSKIT_SEED", str(self.seed))
        config = {
            "stats": self._stats_dir,
            # armed again in multiprocessing spawn children, which re-run the main script
            "main": [[n, t] for n, t in self.main_targets.items()],
            "probes": list(self.settings.probes),
            # probe scopes naming these are watched in the code spawn children re-run
            "main_modules": sorted(self.main_names),
            "redirects": redirects,
        }
        self._set_env(ENV_CONFIG, json.dumps(config))
        self._set_env(ENV_GUARD, str(os.getpid()))
        paths = [BOOTSTRAP_DIR]
        current = os.environ.get("PYTHONPATH")
        if current:
            paths += [p for p in current.split(os.pathsep) if p != BOOTSTRAP_DIR]
        self._set_env("PYTHONPATH", os.pathsep.join(paths))

    # --- __main__ ------------------------------------------------------------------------

    def transform(self, code: types.CodeType) -> types.CodeType:
        """Arm ``__main__``'s targeted functions in the program's code before it runs, and
        have the probe watch the program's functions its scopes name."""
        if self.main_targets:
            from chaoskit.hooks.patch_code import arm_constants

            wanted = {n.partition(":")[2]: n for n in self.main_targets}
            code, found = arm_constants(code, wanted)
            for qualname, name in wanted.items():
                self.main_status[name] = "patched" if qualname in found else "unresolved"
        if self._probe is not None:
            self._probe.watch_module_code(code)
            self.notes.extend(self._probe.unresolved)
        return code

    # --- exit ----------------------------------------------------------------------------

    def summary(self) -> Any:
        from chaoskit.instrument.summary import RunSummary, merge, read_children, snapshot

        if self.entries:
            snaps = [snapshot(self.entries, self.main_status)]
        else:
            snaps = [{"pid": os.getpid(), "targets": {}}]
        if self._stats_dir is not None:
            snaps += read_children(self._stats_dir)
        result: RunSummary = merge(self.program, self.seed, self.entries, snaps)
        for name in self.main_targets:
            if name not in self.main_status:
                for t in result.targets:
                    if t.name == name:
                        t.status = "unresolved"
        result.exit_code = self.exit_code
        result.notes = list(self.notes)
        depths: dict[str, int] = {}
        if self._probe is not None:
            depths.update(getattr(self._probe, "max_depths", None) or {})
        for snap in snaps[1:]:  # children's probes
            for function, depth in (snap.get("max_depths") or {}).items():
                depths[function] = max(depths.get(function, 0), int(depth))
        result.max_depths = depths
        return result

    def finish(self) -> None:
        """Print the summary, write the report, enforce --strict; then undo everything."""
        if self._finished:
            return
        self._finished = True
        try:
            result = self.summary()
        except Exception:
            _log_exception("chaoskit instrument: cannot build the summary")
            self.stop()
            return
        # Undo first: the program's patches may target what rendering uses (json, io).
        self.stop()
        if self.settings.summary:
            sys.stderr.write(result.to_text())
        if self.settings.report:
            try:
                with open(self.settings.report, "w", encoding="utf-8") as fh:
                    fh.write(result.to_json())
            except OSError as exc:
                sys.stderr.write(f"chaoskit instrument: cannot write report: {exc}\n")
        problems = result.problems() if self.settings.strict else []
        if problems:
            for t in problems:
                what = "target" if t.kind == "function" else "failpoint"
                sys.stderr.write(f"chaoskit instrument: strict: {what} {t.name!r} {t.status}\n")
            import contextlib

            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            if "logging" in sys.modules:
                sys.modules["logging"].shutdown()
            os._exit(STRICT_EXIT_CODE)

    def stop(self) -> None:
        """Undo patches, failpoints, the probe and the environment changes."""
        if not self._finished:  # never unregister from inside the running exit handler
            atexit.unregister(self.finish)
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception:
                _log_exception("chaoskit instrument: error while undoing patches")
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if self._stats_dir is not None:
            import shutil

            shutil.rmtree(self._stats_dir, ignore_errors=True)
            self._stats_dir = None

    def __enter__(self) -> Session:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
