"""The exception tree.

Everything chaoskit raises on its own account derives from :class:`ChaosKitError`.
Mistakes a user can make (a bad term, a missing target, an unknown option) are
:class:`ConfigError`, which is also a :class:`ValueError` and names the offending text.
Faults that chaoskit injects on purpose (:class:`ChaosPanic`, :class:`ChaosError`) are
deliberately *not* ``ChaosKitError``: code under test should see them as ordinary failures.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time

if TYPE_CHECKING:
    from typing import Any

    from chaoskit.report.model import Report

__all__ = [
    "ChaosError",
    "ChaosKitError",
    "ChaosPanic",
    "ConfigError",
    "HangDetected",
    "RunInterrupted",
    "ScenarioFailed",
]


class ChaosKitError(Exception):
    """Root of chaoskit's own errors."""


class ConfigError(ChaosKitError, ValueError):
    """A user-caused configuration error: names what was wrong and where.

    ``source`` is the entry or file the text came from, ``position`` a 0-based offset
    into ``text`` when it is known.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str | None = None,
        position: int | None = None,
        source: str | None = None,
    ) -> None:
        self.text = text
        self.position = position
        self.source = source
        parts = [message]
        if source is not None:
            parts.append(f"in {source}")
        if text is not None:
            if position is not None:
                parts.append(f"at position {position} of {text!r}")
            else:
                parts.append(f"in {text!r}")
        super().__init__(" ".join(parts) if len(parts) > 1 else message)
        self.message = message


class ScenarioFailed(ChaosKitError):
    """Raised by :func:`chaoskit.run` when a run failed; carries the :class:`Report`."""

    def __init__(self, report: Report) -> None:
        self.report = report
        failures = len(report.failures)
        super().__init__(
            f"scenario {report.scenario!r} failed: {failures} failed iteration(s) of "
            f"{report.iterations}, success rate {report.success_rate:.1%} (seed {report.seed})"
        )


class RunInterrupted(BaseException):
    """Raised asynchronously in a worker thread when the run is interrupted.

    A ``BaseException`` on purpose: ``except Exception`` in the code under test does not
    swallow it.
    """


class HangDetected(BaseException):
    """Raised asynchronously in an iteration that a ``no_infinite_loop`` watchdog found stuck.

    A ``BaseException`` on purpose: a retry loop with ``except Exception`` cannot swallow it.
    """


class ChaosPanic(Exception):
    """An injected panic (``maybe_panic``, ``panic`` failpoint action)."""

    def __init__(self, message: str = "chaos panic", *args: Any) -> None:
        super().__init__(message, *args)
        self.message = message


class ChaosError(Exception):
    """An injected error (``maybe_error`` with the default exception type)."""
