"""Arm functions before they exist: rewrite the code constants of a module's code object.

A function object is made from a code constant each time its ``def`` runs. Replacing that
constant (found by ``co_qualname`` anywhere in the tree of nested code objects) with an
armed copy makes every function created from it armed from birth: functions called while
the module body still runs, functions that decorators capture, and closures created later.
The instrument wrapper uses this for ``__main__``, which runpy-style execution never
imports, so no import hook can reach it.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

__all__ = ["arm_constants", "find_code"]


def find_code(code: types.CodeType, qualname: str) -> types.CodeType | None:
    """The nested code object whose ``co_qualname`` is ``qualname``, if any."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_qualname == qualname:
                return const
            found = find_code(const, qualname)
            if found is not None:
                return found
    return None


def arm_constants(
    code: types.CodeType, wanted: Mapping[str, str]
) -> tuple[types.CodeType, dict[str, tuple[types.CodeType, types.CodeType]]]:
    """Return ``code`` with every nested code object named in ``wanted`` armed.

    ``wanted`` maps a qualname (``Repo.save``, ``main.<locals>.helper``) to the failpoint
    name its prologue evaluates. Returns the new code and ``{qualname: (original, armed)}``
    for the constants that were found (absent names were not found).
    """
    from chaoskit.hooks import patch_eval
    from chaoskit.hooks.codeswap import build_armed_code

    found: dict[str, tuple[types.CodeType, types.CodeType]] = {}

    def visit(co: types.CodeType) -> types.CodeType:
        consts = list(co.co_consts)
        changed = False
        for i, const in enumerate(consts):
            if not isinstance(const, types.CodeType):
                continue
            new = visit(const)
            name = wanted.get(const.co_qualname)
            if name is not None:
                new = build_armed_code(
                    new, name, patch_eval.evaluate, patch_eval.evaluate_async, patch_eval.NO_VALUE
                )
                found[const.co_qualname] = (const, new)
            if new is not const:
                consts[i] = new
                changed = True
        return co.replace(co_consts=tuple(consts)) if changed else co

    return visit(code), found
