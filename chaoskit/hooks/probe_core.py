"""Which core runs the probe's hot paths: the C accelerator or pure Python.

The backends (``probe_sysmon.py``, ``probe_trace.py``) each have their callbacks in pure
Python, which define what is measured, and can hand the hot paths (push on a call, pop on
a return, the scope check of global events) to ``chaoskit.hooks._probe_speedups``, an
optional C extension built at install time. It does the same bookkeeping without a Python
frame per call and calls the same Python slow paths for anything rare. coverage.py does
the same with its CTracer beside its PyTracer, and ``COVERAGE_CORE`` is the model for
:data:`ENV_VAR`.

The C core accelerates the ``sys.monitoring`` backend (3.12+) and, on CPython 3.11, the
``settrace`` and ``setprofile`` backends; anything else runs the Python core. The choice
and its reason end up in the probe's ``backend_reason``.
"""

from __future__ import annotations

import os
import types

from chaoskit.errors import ConfigError

__all__ = ["CORES", "ENV_VAR", "check_core", "load", "select_core"]

CORES = ("c", "python")
ENV_VAR = "CHAOSKIT_PROBE_CORE"
_MODULE = "chaoskit.hooks._probe_speedups"

_loaded: tuple[types.ModuleType | None, str] | None = None


def load() -> tuple[types.ModuleType | None, str]:
    """The C extension module (or None) and why not; imported once."""
    global _loaded
    if _loaded is None:
        try:
            from chaoskit.hooks import _probe_speedups
        except ImportError as exc:
            _loaded = None, f"the C core is not built ({exc})"
        else:
            _loaded = _probe_speedups, "C callbacks"
    return _loaded


def check_core(prefer: str | None) -> str | None:
    """``prefer``, or the environment's choice, validated: ``"c"``, ``"python"`` or None."""
    source = "core"
    if prefer is None:
        prefer = os.environ.get(ENV_VAR, "").strip().lower() or None
        source = ENV_VAR
    if prefer is not None and prefer not in CORES:
        raise ConfigError(f"unknown probe {source} (choose c or python)", text=prefer)
    return prefer


def accelerates(backend: str, module: types.ModuleType) -> bool:
    """Whether the C core has the hot paths of ``backend`` on this Python."""
    if backend == "sys.monitoring":
        return True
    return bool(module.TRACE_FUNCTIONS)


def select_core(
    backend: str, prefer: str | None = None
) -> tuple[types.ModuleType | None, str, str]:
    """``(C module or None, core name, reason)`` for a probe running ``backend``.

    ``prefer`` (else ``$CHAOSKIT_PROBE_CORE``) forces a core: ``"python"`` always wins;
    ``"c"`` fails with :class:`~chaoskit.ConfigError` when the extension is not built (a
    broken build must not pass silently), and still runs the Python core for a backend that
    the C core does not accelerate on this Python.
    """
    prefer = check_core(prefer)
    if prefer == "python":
        return None, "python", "pure-Python callbacks (requested)"
    module, why = load()
    if module is None:
        if prefer == "c":
            raise ConfigError(f"probe core unavailable: {why}", text="c")
        return None, "python", f"pure-Python callbacks: {why}"
    if not accelerates(backend, module):
        return None, "python", f"pure-Python callbacks: the C core has no {backend} on 3.12+"
    return module, "c", f"C callbacks ({_MODULE})" + (" (requested)" if prefer else "")
