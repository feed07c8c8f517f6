"""Custom invariants (Go: StateConsistencyValidator)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from chaoskit.context import IterationContext
from chaoskit.errors import ConfigError
from chaoskit.validators.base import BaseValidator

__all__ = ["StateConsistency", "state_consistency"]


class StateConsistency(BaseValidator):
    """Calls ``check(target)`` (sync or async) after each iteration.

    ``True``/``None`` passes; ``False`` fails; a string fails with that message; an
    exception fails with its message.
    """

    kind = "state_consistency"

    def __init__(self, check: Callable[[Any], Any], description: str | None = None) -> None:
        super().__init__()
        if not callable(check):
            self._config_errors.append(
                ConfigError(
                    f"state_consistency needs a callable, got {type(check).__name__} {check!r}"
                )
            )
        self.check = check
        self.description = description or getattr(check, "__name__", "state check")

    def after_iteration(self, ctx: IterationContext) -> str | None:
        target = ctx.run.scenario.target if ctx.run.scenario is not None else None
        try:
            result = self.check(target)
            if inspect.isawaitable(result):
                result = _wait(result, ctx)
        except Exception as exc:
            return f"{self.description} raised {type(exc).__name__}: {exc}"
        if result is None or result is True:
            return None
        if isinstance(result, str):
            return result
        if result is False:
            return f"{self.description} returned False"
        return None if result else f"{self.description} returned {result!r}"


def _wait(awaitable: Awaitable[Any], ctx: IterationContext) -> Any:
    """Await an async check on the iteration's event loop (or a fresh one)."""

    async def wrapper() -> Any:
        return await awaitable

    loop = ctx.loop
    if loop is not None and not loop.is_closed() and not loop.is_running():
        return loop.run_until_complete(wrapper())
    return asyncio.run(wrapper())


def state_consistency(
    check: Callable[[Any], Any], description: str | None = None
) -> StateConsistency:
    """A custom invariant over the target, checked after every iteration."""
    return StateConsistency(check, description)
