"""The scenario builder: immutability and every user mistake as a ConfigError at build()."""

from __future__ import annotations

import dataclasses

import pytest

import chaoskit as ck
from chaoskit import injectors, validators


def noop(target: object) -> None:
    return None


def test_build_returns_immutable_scenario_with_everything_set() -> None:
    target = object()
    s = (
        ck.scenario("demo")
        .target(target)
        .step("a", noop)
        .step("b", noop)
        .inject("delay", injectors.random_delay(0.001, 0.002))
        .check("threads", validators.thread_limit(10))
        .probe("json", "json.decoder:JSONDecoder")
        .repeat(3)
        .workers(2)
        .seed(9)
        .build()
    )
    assert isinstance(s, ck.Scenario)
    assert [st.name for st in s.steps] == ["a", "b"]
    assert s.target is target
    assert s.probes == ("json", "json.decoder:JSONDecoder")
    assert (s.repeat, s.workers, s.seed) == (3, 2, 9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.repeat = 5  # type: ignore[misc]


def test_scenario_without_steps_is_rejected() -> None:
    with pytest.raises(ck.ConfigError, match="no steps"):
        ck.scenario("empty").repeat(1).build()


@pytest.mark.parametrize("n", [-1, 0])
def test_non_positive_repeat_is_rejected(n: int) -> None:
    with pytest.raises(ck.ConfigError, match="repeat must be >= 1"):
        ck.scenario("x").step("s", noop).repeat(n).build()


def test_repeat_of_wrong_type_is_rejected() -> None:
    with pytest.raises(ck.ConfigError, match="repeat must be an integer"):
        ck.scenario("x").step("s", noop).repeat("10").build()  # type: ignore[arg-type]


def test_repeat_and_run_for_together_are_rejected() -> None:
    with pytest.raises(ck.ConfigError, match=r"either \.repeat"):
        ck.scenario("x").step("s", noop).repeat(3).run_for(1.0).build()


def test_run_for_accepts_unit_strings() -> None:
    s = ck.scenario("x").step("s", noop).run_for("250ms").build()
    assert s.run_for == pytest.approx(0.25)
    with pytest.raises(ck.ConfigError, match="run_for"):
        ck.scenario("x").step("s", noop).run_for("soon").build()


def test_non_callable_step_is_rejected_naming_the_step() -> None:
    with pytest.raises(ck.ConfigError, match="step 'broken' is not callable"):
        ck.scenario("x").step("broken", 42).build()  # type: ignore[arg-type]


def test_validator_threshold_of_wrong_type_is_rejected_at_build() -> None:
    check = validators.thread_limit("many")  # type: ignore[arg-type]
    builder = ck.scenario("x").step("s", noop).check("threads", check)
    with pytest.raises(ck.ConfigError, match=r"'threads'.*thread_limit limit must be an integer"):
        builder.build()


def test_injector_with_bad_arguments_is_rejected_at_build() -> None:
    with pytest.raises(ck.ConfigError, match="greater than max"):
        ck.scenario("x").step("s", noop).inject("d", injectors.random_delay(0.5, 0.1)).build()
    with pytest.raises(ck.ConfigError, match="between 0 and 1"):
        ck.scenario("x").step("s", noop).inject("p", injectors.panic_probability(1.5)).build()


def test_objects_that_are_not_validators_or_injectors_are_rejected() -> None:
    with pytest.raises(ck.ConfigError, match="validator 'v' is not a validator"):
        ck.scenario("x").step("s", noop).check("v", object()).build()
    with pytest.raises(ck.ConfigError, match=r"injector 'i' is not an? injector"):
        ck.scenario("x").step("s", noop).inject("i", "nope").build()


def test_duplicate_names_and_bad_workers_are_rejected() -> None:
    with pytest.raises(ck.ConfigError, match="duplicate step name 's'"):
        ck.scenario("x").step("s", noop).step("s", noop).build()
    with pytest.raises(ck.ConfigError, match="workers"):
        ck.scenario("x").step("s", noop).workers(0).build()
    with pytest.raises(ck.ConfigError, match="severity"):
        ck.scenario("x").step("s", noop).check(
            "t", validators.thread_limit(5), severity="fatal"
        ).build()


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ck.ConfigError, ValueError)
    assert issubclass(ck.ConfigError, ck.ChaosKitError)
    assert not issubclass(ck.ChaosPanic, ck.ChaosKitError)
