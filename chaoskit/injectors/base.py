"""The injector protocol and a base class for the built-in injectors."""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

from chaoskit.context import IterationContext, RunContext
from chaoskit.events import InjectionApplied
from chaoskit.validators.base import Configurable

__all__ = ["BaseInjector", "Injector"]


@runtime_checkable
class Injector(Protocol):
    """Introduces chaos while a scenario runs.

    ``start`` is called once before the first iteration and ``stop`` once after the last
    (also on failure, interrupt and SIGTERM). Context-chaos injectors register providers on
    the :class:`RunContext` (``ctx.add_provider(self)``) that ``maybe_*`` consult.
    """

    name: str

    def start(self, ctx: RunContext) -> None: ...

    def stop(self, ctx: RunContext) -> None: ...

    def metrics(self) -> dict[str, Any]: ...


class BaseInjector(Configurable):
    """Counts what it applied and registers itself as a context-chaos provider."""

    kind = "injector"

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or self.kind
        self._counts: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self.running = False

    def start(self, ctx: RunContext) -> None:
        self.running = True
        ctx.add_provider(self)

    def stop(self, ctx: RunContext) -> None:
        ctx.remove_provider(self)
        self.running = False

    def count(self, action: str, n: int = 1) -> None:
        with self._count_lock:
            self._counts[action] = self._counts.get(action, 0) + n

    def emit(
        self,
        ctx: IterationContext | RunContext,
        action: str,
        value: float | None = None,
        detail: str | None = None,
    ) -> None:
        self.count(action)
        iteration = ctx.iteration if isinstance(ctx, IterationContext) else ctx.current_iteration
        ctx.emit(
            InjectionApplied(
                iteration=iteration, injector=self.name, action=action, value=value, detail=detail
            )
        )

    def metrics(self) -> dict[str, Any]:
        with self._count_lock:
            return {"name": self.name, "kind": self.kind, **self._counts}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
