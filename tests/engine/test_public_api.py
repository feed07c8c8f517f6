"""The public names DESIGN.md promises stay exported."""

from __future__ import annotations

import chaoskit as ck
from chaoskit import injectors, validators

CORE = {
    "scenario", "Scenario", "run", "Executor", "FAIL_FAST", "CONTINUE_ON_FAILURE", "ScenarioFailed",
    "ConfigError", "ChaosKitError", "ChaosPanic", "Report", "maybe_panic", "maybe_delay", "maybe_error",
    "maybe_network_chaos", "maybe_panic_async", "maybe_delay_async", "maybe_error_async",
    "maybe_network_chaos_async", "record_recursion_depth", "record_panic", "failpoint", "injectors",
    "validators", "Thresholds", "thresholds",
}  # fmt: skip
INJECTORS = {
    "random_delay", "interval_delay", "panic_probability", "error_probability", "cpu_stress",
    "memory_pressure", "failpoints", "patch", "proxy_latency", "proxy_bandwidth", "proxy_timeout",
    "proxy_slicer", "proxy_down", "proxy_reset_peer", "composite",
}  # fmt: skip
VALIDATORS = {
    "thread_limit", "no_thread_leak", "no_task_leak", "recursion_depth_limit", "no_infinite_loop",
    "slow_iteration", "execution_time", "memory_limit", "panic_recovery", "state_consistency", "composite",
}  # fmt: skip


def test_top_level_exports() -> None:
    assert set(ck.__all__) >= CORE
    for name in ck.__all__:
        assert getattr(ck, name) is not None, name


def test_injector_and_validator_exports() -> None:
    assert set(injectors.__all__) >= INJECTORS
    assert set(validators.__all__) >= VALIDATORS
    for name in INJECTORS:
        assert callable(getattr(injectors, name)), name
    for name in VALIDATORS:
        assert callable(getattr(validators, name)), name


def test_hooks_exports() -> None:
    import chaoskit.hooks as hooks

    assert callable(hooks.patch) and callable(hooks.probe)
