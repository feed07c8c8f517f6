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
    for scope in config.get("probes") or ():
        _start_probe_when_imported(str(scope), probes)
    stats = config.get("stats")
    if stats:
        atexit.register(_write_stats, Path(stats), entries, probes)
    return True


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


def _write_stats(directory: Path, entries: list[tuple[str, str]], probes: list[Any]) -> None:
    try:
        from chaoskit.instrument.summary import snapshot

        snap = snapshot(entries, {}) if entries else {"pid": os.getpid(), "targets": {}}
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
