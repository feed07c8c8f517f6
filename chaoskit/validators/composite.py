"""Several validators checked as one (Go: CompositeValidator)."""

from __future__ import annotations

from typing import Any

from chaoskit.context import IterationContext, RunContext
from chaoskit.errors import ConfigError
from chaoskit.validators.base import BaseValidator

__all__ = ["CompositeValidator", "composite"]


class CompositeValidator(BaseValidator):
    """Fails when any part fails; the message lists every failing part."""

    kind = "composite"

    def __init__(self, *validators: Any, name: str | None = None) -> None:
        super().__init__(name)
        if not validators:
            self._config_errors.append(ConfigError("composite validator needs at least one part"))
        for i, v in enumerate(validators):
            if not callable(getattr(v, "after_iteration", None)):
                self._config_errors.append(
                    ConfigError(f"composite part {i} is not a validator: {v!r}")
                )
        self.parts = tuple(validators)

    def validate_config(self) -> None:
        super().validate_config()
        for part in self.parts:
            validate = getattr(part, "validate_config", None)
            if callable(validate):
                validate()

    def start(self, run: RunContext) -> None:
        for part in self.parts:
            part.start(run)

    def before_iteration(self, ctx: IterationContext) -> None:
        for part in self.parts:
            part.before_iteration(ctx)

    def _join(self, messages: list[tuple[Any, str | None]]) -> str | None:
        bad = [f"{getattr(p, 'name', p)}: {m}" for p, m in messages if m is not None]
        return "; ".join(bad) if bad else None

    def after_iteration(self, ctx: IterationContext) -> str | None:
        return self._join([(p, p.after_iteration(ctx)) for p in self.parts])

    def finish(self, run: RunContext) -> str | None:
        return self._join([(p, p.finish(run)) for p in self.parts])

    def stop(self, run: RunContext) -> None:
        for part in reversed(self.parts):
            part.stop(run)


def composite(*validators: Any, name: str | None = None) -> CompositeValidator:
    """Combine validators into one check."""
    return CompositeValidator(*validators, name=name)
