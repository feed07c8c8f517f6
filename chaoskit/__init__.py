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

import importlib
from typing import Any

__version__ = "0.1.0"

from chaoskit import injectors, validators
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
from chaoskit.report.model import Report
from chaoskit.scenario import Scenario, ScenarioBuilder, scenario

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

_LAZY = {
    "failpoint": ("chaoskit.failpoints", "failpoint"),
    "Thresholds": ("chaoskit.thresholds", "Thresholds"),
    "thresholds": ("chaoskit.thresholds", None),
}


def __getattr__(name: str) -> Any:
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module 'chaoskit' has no attribute {name!r}")
    module = importlib.import_module(spec[0])
    value = module if spec[1] is None else getattr(module, spec[1])
    globals()[name] = value
    return value


def _read_failpoint_environment() -> None:
    """Apply ``CHAOSKIT_FAILPOINTS*`` at ``import chaoskit`` (only when one is set)."""
    import os

    if any(
        os.environ.get(key)
        for key in ("CHAOSKIT_FAILPOINTS", "CHAOSKIT_FAILPOINTS_FILE", "CHAOSKIT_FAILPOINTS_HTTP")
    ):
        importlib.import_module("chaoskit.failpoints")


_read_failpoint_environment()
