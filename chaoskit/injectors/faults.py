"""Panic and error injectors: consulted by ``maybe_panic()`` and ``maybe_error()``."""

from __future__ import annotations

from collections.abc import Callable

from chaoskit.context import IterationContext
from chaoskit.errors import ChaosError, ConfigError
from chaoskit.injectors.base import BaseInjector
from chaoskit.injectors.delay import _probability

__all__ = ["ErrorProbability", "PanicProbability", "error_probability", "panic_probability"]

ErrorFactory = type[BaseException] | BaseException | Callable[[], BaseException]


class PanicProbability(BaseInjector):
    """``maybe_panic()`` raises :class:`~chaoskit.ChaosPanic` with ``probability``."""

    kind = "panic_probability"

    def __init__(self, probability: float, message: str = "chaos panic") -> None:
        super().__init__()
        self.probability = self._arg(lambda: _probability(probability, "panic probability"), 0.0)
        self.message = message

    def panic_for(self, ctx: IterationContext) -> str | None:
        if ctx.rng.random() < self.probability:
            self.count("panic")
            return f"{self.message} (iteration {ctx.iteration})"
        return None


class ErrorProbability(BaseInjector):
    """``maybe_error()`` raises an error with ``probability`` (``ChaosError`` by default)."""

    kind = "error_probability"

    def __init__(
        self, probability: float, error: ErrorFactory = ChaosError, message: str = "chaos error"
    ) -> None:
        super().__init__()
        self.probability = self._arg(lambda: _probability(probability, "error probability"), 0.0)
        if not (
            (isinstance(error, type) and issubclass(error, BaseException))
            or isinstance(error, BaseException)
            or callable(error)
        ):
            self._config_errors.append(
                ConfigError(f"error must be an exception class, instance or factory, got {error!r}")
            )
        self.error = error
        self.message = message

    def _make(self) -> BaseException:
        err = self.error
        if isinstance(err, BaseException):
            return err
        if isinstance(err, type):
            exc: BaseException = err(self.message)
            return exc
        made: object = err()
        if not isinstance(made, BaseException):
            return ChaosError(f"error factory returned {made!r}, not an exception")
        return made

    def error_for(self, ctx: IterationContext) -> BaseException | None:
        if ctx.rng.random() < self.probability:
            self.count("error")
            return self._make()
        return None


def panic_probability(probability: float, message: str = "chaos panic") -> PanicProbability:
    """Make ``maybe_panic()`` raise ``ChaosPanic`` with this probability (Go: PanicProbability)."""
    return PanicProbability(probability, message)


def error_probability(
    probability: float, error: ErrorFactory = ChaosError, message: str = "chaos error"
) -> ErrorProbability:
    """Make ``maybe_error()`` raise ``error`` with this probability."""
    return ErrorProbability(probability, error, message)
