"""chaoskit: chaos engineering, fault injection and reliability testing for Python.

import chaoskit as ck
from chaoskit import injectors, validators, failpoint

scenario = (
    ck.scenario("reliability-test")
    .target(engine)
    .step("execute-workflow", execute)
    .inject("delay", injectors.random_delay(0.005, 0.025))
    .check("recursion", validators.recursion_depth_limit(100))
    .repeat(100)
    .build()
)
report = ck.run(scenario)
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time

__version__ = "0.1.0"

# Everything else loads on first use (PEP 562), so `import chaoskit` in a program under
# test, or under `python -m chaoskit.instrument`, stays cheap.
if TYPE_CHECKING:
    from typing import Any

    from chaoskit import injectors, thresholds, validators
    from chaoskit.context import (
        IterationContext,
        RunContext,
        maybe_delay,
        maybe_delay_async,
        maybe_error,
        maybe_error_async,
        maybe_network_chaos,
        maybe_network_chaos_async,
        maybe_panic,
        maybe_panic_async,
        record_panic,
        record_recursion_depth,
    )
    from chaoskit.errors import (
        ChaosError,
        ChaosKitError,
        ChaosPanic,
        ConfigError,
        HangDetected,
        RunInterrupted,
        ScenarioFailed,
    )
    from chaoskit.events import EventBus
    from chaoskit.executor import CONTINUE_ON_FAILURE, FAIL_FAST, Executor, FailurePolicy, run
    from chaoskit.failpoints import failpoint
    from chaoskit.report.model import Report
    from chaoskit.scenario import Scenario, ScenarioBuilder, scenario
    from chaoskit.thresholds import Thresholds

__all__ = [
    "CONTINUE_ON_FAILURE",
    "FAIL_FAST",
    "ChaosError",
    "ChaosKitError",
    "ChaosPanic",
    "ConfigError",
    "EventBus",
    "Executor",
    "FailurePolicy",
    "HangDetected",
    "IterationContext",
    "Report",
    "RunContext",
    "RunInterrupted",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioFailed",
    "Thresholds",
    "__version__",
    "failpoint",
    "injectors",
    "maybe_delay",
    "maybe_delay_async",
    "maybe_error",
    "maybe_error_async",
    "maybe_network_chaos",
    "maybe_network_chaos_async",
    "maybe_panic",
    "maybe_panic_async",
    "record_panic",
    "record_recursion_depth",
    "run",
    "scenario",
    "thresholds",
    "validators",
]

# name -> (module, attribute or None for the module itself)
_CONTEXT_NAMES = (
    "IterationContext", "RunContext", "maybe_delay", "maybe_delay_async", "maybe_error",
    "maybe_error_async", "maybe_network_chaos", "maybe_network_chaos_async", "maybe_panic",
    "maybe_panic_async", "record_panic", "record_recursion_depth",
)  # fmt: skip
_ERROR_NAMES = (
    "ChaosError", "ChaosKitError", "ChaosPanic", "ConfigError", "HangDetected",
    "RunInterrupted", "ScenarioFailed",
)  # fmt: skip
_LAZY: dict[str, tuple[str, str | None]] = {
    **{name: ("chaoskit.context", name) for name in _CONTEXT_NAMES},
    **{name: ("chaoskit.errors", name) for name in _ERROR_NAMES},
    "injectors": ("chaoskit.injectors", None),
    "validators": ("chaoskit.validators", None),
    "thresholds": ("chaoskit.thresholds", None),
    "EventBus": ("chaoskit.events", "EventBus"),
    "CONTINUE_ON_FAILURE": ("chaoskit.executor", "CONTINUE_ON_FAILURE"),
    "FAIL_FAST": ("chaoskit.executor", "FAIL_FAST"),
    "Executor": ("chaoskit.executor", "Executor"),
    "FailurePolicy": ("chaoskit.executor", "FailurePolicy"),
    "run": ("chaoskit.executor", "run"),
    "Report": ("chaoskit.report.model", "Report"),
    "failpoint": ("chaoskit.failpoints", "failpoint"),
    "Thresholds": ("chaoskit.thresholds", "Thresholds"),
    "Scenario": ("chaoskit.scenario", "Scenario"),
    "ScenarioBuilder": ("chaoskit.scenario", "ScenarioBuilder"),
}


def __getattr__(name: str) -> Any:
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module 'chaoskit' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(spec[0])
    value = module if spec[1] is None else getattr(module, spec[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from types import ModuleType as _ModuleType
else:
    _ModuleType = type(sys)  # types.ModuleType, without importing types (start-up time)


class _Package(_ModuleType):
    """The package module's class: ``scenario`` is always the builder function.

    Importing the submodule ``chaoskit.scenario`` (by anything, in any order) makes the
    import system set the package attribute ``scenario`` to the submodule; this data
    descriptor wins over the instance dictionary and ignores that assignment, so
    ``ck.scenario(...)`` stays right without importing ``chaoskit.scenario`` (and
    ``dataclasses``) at ``import chaoskit``.
    """

    @property
    def scenario(self) -> Any:
        override = self.__dict__.get("_scenario_override")
        if override is not None:
            return override
        from chaoskit.scenario import scenario as builder

        return builder

    @scenario.setter
    def scenario(self, value: Any) -> None:
        if isinstance(value, _ModuleType):
            return  # the import system binding the submodule: keep the builder function
        self.__dict__["_scenario_override"] = value  # e.g. a test's monkeypatch

    @scenario.deleter
    def scenario(self) -> None:
        self.__dict__.pop("_scenario_override", None)


sys.modules[__name__].__class__ = _Package


def _read_failpoint_environment() -> None:
    """Apply ``CHAOSKIT_FAILPOINTS*`` at ``import chaoskit`` (only when one is set)."""
    import os

    if any(
        os.environ.get(key)
        for key in ("CHAOSKIT_FAILPOINTS", "CHAOSKIT_FAILPOINTS_FILE", "CHAOSKIT_FAILPOINTS_HTTP")
    ):
        import chaoskit.failpoints  # noqa: F401  (applies the variables)


_read_failpoint_environment()
