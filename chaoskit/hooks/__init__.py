"""Injection without code changes: the patcher, the import hook and the probe.

Public names: :func:`patch` (``chaoskit.hooks.patcher``) and :func:`probe`
(``chaoskit.hooks.probe``); they are imported on first use so that ``import chaoskit``
stays cheap.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:  # type checkers: ``probe`` is the function, not the submodule of that name
    from typing import Any

    from chaoskit.hooks.probe import Probe as Probe
    from chaoskit.hooks.probe import probe as probe

__all__ = ["patch", "probe"]

_LAZY = {
    "patch": "chaoskit.hooks.patcher",
    "PatchHandle": "chaoskit.hooks.patcher",
    "probe": "chaoskit.hooks.probe",
    "Probe": "chaoskit.hooks.probe",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chaoskit.hooks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
