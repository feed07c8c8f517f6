"""Several injectors started and stopped as one."""

from __future__ import annotations

from typing import Any

from chaoskit.context import RunContext
from chaoskit.errors import ConfigError
from chaoskit.injectors.base import BaseInjector

__all__ = ["CompositeInjector", "composite"]


class CompositeInjector(BaseInjector):
    """Starts its parts in order and stops them in reverse; a failed start undoes the rest."""

    kind = "composite"

    def __init__(self, *injectors: Any, name: str | None = None) -> None:
        super().__init__(name)
        if not injectors:
            self._config_errors.append(ConfigError("composite injector needs at least one part"))
        for i, inj in enumerate(injectors):
            if not (callable(getattr(inj, "start", None)) and callable(getattr(inj, "stop", None))):
                self._config_errors.append(
                    ConfigError(f"composite part {i} is not an injector: {inj!r}")
                )
        self.parts = tuple(injectors)
        self._started: list[Any] = []

    def validate_config(self) -> None:
        super().validate_config()
        for part in self.parts:
            validate = getattr(part, "validate_config", None)
            if callable(validate):
                validate()

    def start(self, ctx: RunContext) -> None:
        self._started = []
        try:
            for part in self.parts:
                part.start(ctx)
                self._started.append(part)
        except BaseException:
            self.stop(ctx)
            raise
        self.running = True

    def stop(self, ctx: RunContext) -> None:
        errors: list[BaseException] = []
        for part in reversed(self._started):
            try:
                part.stop(ctx)
            except Exception as exc:
                errors.append(exc)
        self._started = []
        self.running = False
        if errors:
            raise errors[0]

    def metrics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "parts": [p.metrics() if hasattr(p, "metrics") else {} for p in self.parts],
        }


def composite(*injectors: Any, name: str | None = None) -> CompositeInjector:
    """Combine injectors into one (Go: CompositeInjector)."""
    return CompositeInjector(*injectors, name=name)
