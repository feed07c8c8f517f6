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


def _fresh(code: str) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_scenario_is_the_builder_after_submodule_imports_in_any_order() -> None:
    check = (
        "import chaoskit as ck, chaoskit.scenario as sm, sys;"
        "from chaoskit import scenario;"
        "mod = sys.modules['chaoskit.scenario'];"
        "assert ck.scenario is mod.scenario is scenario, ck.scenario;"
        "assert type(ck.scenario('x')).__name__ == 'ScenarioBuilder';"
        "print('ok')"
    )
    for first, second in [
        ("chaoskit.scenario", "chaoskit.executor"),
        ("chaoskit.executor", "chaoskit.scenario"),
    ]:
        assert _fresh(f"import {first}; import {second}; {check}") == "ok"
        assert _fresh(f"import chaoskit; import {first}; import {second}; {check}") == "ok"


def test_import_chaoskit_is_light() -> None:
    out = _fresh(
        "import sys, chaoskit;"
        "print(','.join(m for m in ('chaoskit.scenario', 'dataclasses') if m in sys.modules))"
    )
    assert out == ""
