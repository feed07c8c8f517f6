"""Verdicts on real runs: severities from thresholds, ck.run and exit codes."""

from __future__ import annotations

import pytest

import chaoskit as ck
from chaoskit import validators
from chaoskit.thresholds import Verdict


def _scenario(*, thresholds=None, slow_severity=None, fail_every=0, repeat=20):
    state = {"n": 0}

    def step(_: object) -> None:
        state["n"] += 1
        if fail_every and state["n"] % fail_every == 0:
            raise RuntimeError(f"broken on call {state['n']}")

    b = (
        ck.scenario("e2e")
        .step("s", step)
        .check("threads", validators.thread_limit(1000))
        .check("slow", validators.slow_iteration(60.0), severity=slow_severity)
        .check("panics", validators.panic_recovery())
        .repeat(repeat)
        .seed(5)
    )
    if thresholds is not None:
        b = b.thresholds(thresholds)
    return b.build()


def test_default_thresholds_make_slow_iteration_critical_by_kind() -> None:
    report = ck.Executor(progress=False).run(_scenario())
    sev = {name: v.severity for name, v in report.verdicts.items()}
    assert sev == {"threads": "critical", "slow": "critical", "panics": "warning"}
    assert report.verdict is Verdict.PASS
    assert report.thresholds.name == "default"


def test_explicit_check_severity_beats_the_thresholds() -> None:
    report = ck.Executor(progress=False).run(_scenario(slow_severity="info"))
    assert report.verdicts["slow"].severity == "info"


def test_relaxed_thresholds_keep_only_thread_limits_critical() -> None:
    report = ck.Executor(thresholds="relaxed", progress=False).run(_scenario())
    sev = {name: v.severity for name, v in report.verdicts.items()}
    assert sev == {"threads": "critical", "slow": "warning", "panics": "warning"}
    assert report.thresholds.name == "relaxed"


def test_strict_makes_panic_recovery_critical() -> None:
    report = ck.Executor(progress=False).run(_scenario(thresholds=ck.thresholds.STRICT))
    assert report.verdicts["panics"].severity == "critical"


def test_ck_run_raises_on_fail_only() -> None:
    with pytest.raises(ck.ScenarioFailed) as info:
        ck.run(_scenario(fail_every=4), failure_policy=ck.CONTINUE_ON_FAILURE, progress=False)
    assert info.value.report.verdict is Verdict.FAIL
    assert info.value.report.success_rate == 0.75
    report = ck.run(
        _scenario(fail_every=4, thresholds=ck.Thresholds(min_success_rate=0.7)),
        failure_policy=ck.CONTINUE_ON_FAILURE,
        progress=False,
    )
    assert report.passed and report.verdict is Verdict.PASS
    assert report.failed_iterations == 5


def test_recorded_thresholds_and_severities_survive_the_event_log(tmp_path) -> None:
    from chaoskit.events import read_events
    from chaoskit.report.model import Report

    log = tmp_path / "ev.jsonl"
    live = ck.Executor(
        ck.CONTINUE_ON_FAILURE, thresholds="relaxed", events_path=log, progress=False
    ).run(_scenario(fail_every=6))
    rebuilt = Report.from_events(read_events(log))
    assert rebuilt.thresholds == live.thresholds
    assert rebuilt.thresholds_source == "recorded"
    assert rebuilt.to_json() == live.to_json()
    assert rebuilt.verdict is Verdict.PASS  # 83% >= 80%
