"""The failpoint evaluators that patched functions call, with a re-entrancy guard.

Evaluating a failpoint runs chaoskit code (the registry, the RNG, locks, logging, a
``call(...)`` action). If that code calls a function that is itself patched
(``random:Random.random``, ``threading:Condition.notify_all``, ``time:sleep``), an
unguarded evaluation would recurse or deadlock inside the user's program. While an
evaluation is running in a context (a thread, or an asyncio task: the flag is a
:class:`~contextvars.ContextVar`), patched functions reached from it run unpatched.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from chaoskit.failpoints import registry

__all__ = ["NO_VALUE", "evaluate", "evaluate_async", "evaluating"]

NO_VALUE: Any = registry.NO_VALUE
_inside: ContextVar[bool] = ContextVar("chaoskit_patch_evaluating", default=False)
_evaluate = registry.evaluate
_evaluate_async = registry.evaluate_async


def evaluating() -> bool:
    """True while a patched function's failpoint is being evaluated in this context."""
    return _inside.get()


def evaluate(name: str) -> object:
    """``registry.evaluate(name)``, or ``NO_VALUE`` when reached from an evaluation."""
    if _inside.get():
        return NO_VALUE
    token = _inside.set(True)
    try:
        return _evaluate(name)
    finally:
        _inside.reset(token)


async def evaluate_async(name: str) -> object:
    """``await registry.evaluate_async(name)``, guarded like :func:`evaluate`."""
    if _inside.get():
        return NO_VALUE
    token = _inside.set(True)
    try:
        return await _evaluate_async(name)
    finally:
        _inside.reset(token)
