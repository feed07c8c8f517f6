"""``injectors.failpoints`` inside a scenario: enabled for the run, events reach the report."""

from __future__ import annotations

import chaoskit as ck
from chaoskit import injectors
from chaoskit.events import FailpointFired, FailpointHit
from chaoskit.failpoints import failpoint
from chaoskit.injectors.failpoints import FailpointsInjector


def make_scenario(fp_name: str, terms: str, seed: int = 99) -> ck.Scenario:
    @failpoint(fp_name)
    def save() -> str:
        return "saved"

    def step(_target: object) -> None:
        save()

    return (
        ck.scenario("failpoint-injector")
        .step("save", step)
        .inject("fp", injectors.failpoints({fp_name: terms}))
        .repeat(60)
        .seed(seed)
        .build()
    )


def test_failpoints_injector_is_exported() -> None:
    assert injectors.failpoints is not None
    assert isinstance(injectors.failpoints({"a": "off"}), FailpointsInjector)


def test_injector_enables_for_the_run_and_counts_in_the_report(fp_name: str) -> None:
    scenario = make_scenario(fp_name, "25%raise(OSError)")
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE).run(scenario)
    counts = report.failpoints[fp_name]
    assert counts["hits"] == 60
    assert 0 < counts["fired"] < 60
    assert len(report.failures) == counts["fired"]
    assert not failpoint.is_active(fp_name)  # switched off after the run


def test_seed_reproduces_the_failing_iterations(fp_name: str) -> None:
    scenario = make_scenario(fp_name, "30%raise(OSError)", seed=5)
    executor = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE)
    first = [f.iteration for f in executor.run(scenario).failures]
    second = [f.iteration for f in executor.run(scenario).failures]
    assert first and first == second


def test_events_are_published_on_the_bus(fp_name: str) -> None:
    from chaoskit.context import (
        RunContext,
        _activate,
        _deactivate,
        _enter_iteration,
        _exit_iteration,
    )
    from chaoskit.events import EventBus

    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append, [FailpointHit, FailpointFired])
    run = RunContext(bus=bus, seed=1)
    inj = injectors.failpoints({fp_name: "1*return(1)"})
    _activate(run)
    inj.start(run)
    token = _enter_iteration(run.iteration_context(3))
    try:
        failpoint.inject(fp_name)
        failpoint.inject(fp_name)
    finally:
        _exit_iteration(token)
        inj.stop(run)
        _deactivate(run)
    kinds = [(type(e).__name__, e.iteration) for e in seen]  # type: ignore[attr-defined]
    assert kinds == [("FailpointHit", 3), ("FailpointFired", 3), ("FailpointHit", 3)]
    assert inj.metrics()["failpoints"] == {fp_name: {"hits": 2, "fired": 1}}


def test_injector_restores_previous_settings(fp_name: str) -> None:
    from chaoskit.context import RunContext
    from chaoskit.events import EventBus

    failpoint.enable(fp_name, "return(before)")
    inj = injectors.failpoints({fp_name: "return(during)"})
    run = RunContext(bus=EventBus(), seed=1)
    inj.start(run)
    assert failpoint.inject(fp_name) == "during"
    inj.stop(run)
    assert failpoint.inject(fp_name) == "before"


def test_bad_terms_fail_at_build(fp_name: str) -> None:
    import pytest

    inj = injectors.failpoints({fp_name: "50%%off"})
    with pytest.raises(ck.ConfigError, match=fp_name):
        inj.validate_config()
    with pytest.raises(ck.ConfigError):
        ck.scenario("bad").step("s", lambda t: None).inject("fp", inj).build()


def test_report_lists_enabled_failpoints_that_no_code_registered() -> None:
    """specs/failpoints.md: an unknown name is accepted but listed as never registered."""
    import chaoskit as ck
    from chaoskit import failpoint, injectors

    @failpoint("fp-known-and-hit")
    def save() -> str:
        return "saved"

    report = ck.run(
        ck.scenario("never-registered")
        .step("save", lambda t: save())
        .inject(
            "fp",
            injectors.failpoints(
                {"fp-known-and-hit": "0%return(1)", "fp-typo-nobody-uses": "return(1)"}
            ),
        )
        .repeat(3)
        .build()
    )
    assert report.failpoints["fp-typo-nobody-uses"] == {"hits": 0, "fired": 0}
    assert report.failpoints_never_registered == ["fp-typo-nobody-uses"]
    assert "never registered by any code: fp-typo-nobody-uses" in report.to_text()
    assert '"failpoints_never_registered": [\n    "fp-typo-nobody-uses"' in report.to_json()
