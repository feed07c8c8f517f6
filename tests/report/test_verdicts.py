"""Verdicts under thresholds: FAIL beats UNSTABLE beats PASS, with the reasons."""

from __future__ import annotations

import pytest
from report_events import make_events

from chaoskit import thresholds as th
from chaoskit.errors import ConfigError
from chaoskit.report.model import Report
from chaoskit.report.verdict import fold_numbers
from chaoskit.thresholds import Thresholds, Verdict, exit_code


def test_success_rate_under_minimum_fails() -> None:
    report = Report.from_events(make_events(warning_violation=False))
    assert report.success_rate == pytest.approx(0.85)
    assert report.verdict is Verdict.FAIL
    assert not report.passed
    assert "85.00% is under the minimum 95.00%" in report.verdict_reasons[0]


def test_relaxed_thresholds_accept_the_same_run_as_pass() -> None:
    report = Report.from_events(make_events(warning_violation=False), thresholds="relaxed")
    assert report.verdict is Verdict.PASS
    assert report.passed
    assert report.with_thresholds(th.DEFAULT).verdict is Verdict.FAIL


def test_warning_violation_alone_is_unstable_and_still_passes() -> None:
    report = Report.from_events(make_events(failing={}))
    assert report.verdict is Verdict.UNSTABLE
    assert report.passed
    assert report.exit_code() == 0
    assert report.exit_code(unstable_fails=True) == 1


def test_strict_thresholds_turn_any_violation_into_fail() -> None:
    report = Report.from_events(make_events(failing={}), thresholds=th.STRICT)
    assert report.verdict is Verdict.FAIL
    assert any("all validators must pass" in r for r in report.verdict_reasons)


def test_critical_violation_fails_even_with_full_success_rate() -> None:
    report = Report.from_events(
        make_events(failing={}, warning_violation=False, critical_violation=True)
    )
    assert report.success_rate == 1.0
    assert report.verdict is Verdict.FAIL
    assert report.violations("critical")[0].name == "threads"


def test_max_failed_iterations_is_enforced() -> None:
    t = Thresholds(min_success_rate=0.5, max_failed_iterations=2)
    report = Report.from_events(make_events(warning_violation=False), thresholds=t)
    assert report.verdict is Verdict.FAIL
    assert "3 failed iteration(s), more than the 2 allowed" in report.verdict_reasons[0]
    assert report.with_thresholds(t.replace(max_failed_iterations=3)).verdict is Verdict.PASS


def test_threshold_lists_override_recorded_severity_by_check_name() -> None:
    t = Thresholds(critical=["slow"])
    report = Report.from_events(make_events(failing={}), thresholds=t)
    assert report.verdicts["slow"].severity == "critical"
    assert report.verdict is Verdict.FAIL
    info = Report.from_events(make_events(failing={}), thresholds=Thresholds(info=["slow"]))
    assert info.verdict is Verdict.PASS
    assert info.violations("info")[0].name == "slow"


def test_no_iterations_is_a_fail() -> None:
    report = Report()
    assert report.verdict is Verdict.FAIL
    assert report.verdict_reasons == ("no iteration completed",)


def test_thresholds_recorded_in_the_run_are_used_when_rebuilding() -> None:
    from chaoskit.events import RunStarted

    evs = make_events(warning_violation=False)
    first = evs[0]
    assert isinstance(first, RunStarted)
    evs[0] = RunStarted(
        ts=first.ts, scenario=first.scenario, seed=first.seed, validators=first.validators,
        severities=first.severities, thresholds=th.RELAXED.to_dict(),
    )  # fmt: skip
    assert Report.from_events(evs).verdict is Verdict.PASS


def test_severity_resolution_order() -> None:
    class V:
        kind = "thread_limit"
        severity = "info"

    assert th.DEFAULT.severity_for("threads", "thread_limit", "info") == "critical"
    assert th.DEFAULT.severity_for("x", "panic_recovery", "warning") == "warning"
    assert th.STRICT.severity_for("x", "panic_recovery", "warning") == "critical"
    assert th.RELAXED.severity_for("x", "memory_limit", "critical") == "warning"
    assert th.DEFAULT.severity_for("threads", "thread_limit", "info", explicit="info") == "info"
    assert th.DEFAULT.resolve([("t", V(), None), ("u", V(), "warning")]) == {
        "t": "critical",
        "u": "warning",
    }


def test_presets_match_the_documented_values() -> None:
    assert th.DEFAULT.min_success_rate == 0.95
    assert th.STRICT.min_success_rate == 1.0 and th.STRICT.require_all_validators
    assert th.RELAXED.min_success_rate == 0.80 and th.RELAXED.max_failed_iterations == 200
    assert set(th.RELAXED.critical) == {"thread_limit"}
    assert th.preset("Strict") is th.STRICT
    assert th.preset({"preset": "strict", "min_success_rate": 0.9}).max_failed_iterations == 0
    with pytest.raises(ConfigError, match=r"thresholds must be a ck\.Thresholds.*got int 3"):
        th.preset(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"min_success_rate": 1.5}, "min_success_rate"),
        ({"min_success_rate": "high"}, "min_success_rate"),
        ({"max_failed_iterations": -1}, "max_failed_iterations"),
        ({"critical": ["a"], "warning": ["a"]}, "two severities: a"),
        ({"default_severity": "fatal"}, "'fatal'"),
    ],
)
def test_bad_thresholds_raise_config_error_naming_the_value(kwargs: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Thresholds(**kwargs)


def test_thresholds_from_dict_names_unknown_keys_and_presets() -> None:
    t = Thresholds.from_dict({"preset": "relaxed", "min_success_rate": 0.9})
    assert t.min_success_rate == 0.9 and t.max_failed_iterations == 200
    with pytest.raises(ConfigError, match="unknown thresholds key 'min_rate'"):
        Thresholds.from_dict({"min_rate": 0.9})
    with pytest.raises(ConfigError, match="unknown thresholds preset 'lenient'"):
        Thresholds.from_dict({"preset": "lenient"})
    assert Thresholds.from_dict(th.STRICT.to_dict()) == th.STRICT


def test_exit_codes() -> None:
    assert exit_code("PASS") == 0
    assert exit_code(Verdict.UNSTABLE) == 0
    assert exit_code(Verdict.UNSTABLE, unstable_fails=True) == 1
    assert exit_code("FAIL") == 1


@pytest.mark.parametrize(
    ("message", "folded"),
    [
        ("timeout after 25 ms", "timeout after N ms"),
        ("timeout after 1.5s", "timeout after Ns"),
        ("object at 0x7f3a2b10 failed", "object at N failed"),
        ("retry 3/10 of job-42", "retry N/N of job-N"),
        ("ipv4 is unchanged", "ipv4 is unchanged"),
    ],
)
def test_fold_numbers(message: str, folded: str) -> None:
    assert fold_numbers(message) == folded


def test_top_errors_are_limited_to_five_most_frequent() -> None:
    failing = {i: f"error kind {chr(97 + i % 7)} after {i} ms" for i in range(20)}
    report = Report.from_events(make_events(failing=failing))
    top = report.top_errors()
    assert len(top) == 5
    assert [p.count for p in top] == sorted((p.count for p in top), reverse=True)
    assert top[0].pattern == "error kind a after N ms"
    assert top[0].count == 3


def test_failures_are_attributed_to_the_faults_injected_in_them() -> None:
    report = Report.from_events(make_events(warning_violation=False))
    # failing iterations 3, 7, 12: the failpoint fired in each, delay only in the even one
    assert report.failures_by_fault == {"failpoint:db.save": 3, "delay:delay": 1}


def test_iteration_log_is_a_bounded_uniform_sample_on_long_runs() -> None:
    from chaoskit.report.model import ReportBuilder

    builder = ReportBuilder()
    builder.max_iteration_log = 50
    failing = {i: "x" for i in range(0, 400, 10)}
    for ev in make_events(iterations=400, failing=failing):
        builder.on_event(ev)
    report = builder.build()
    assert report.iterations == 400 and report.failed_iterations == 40
    assert report.iteration_log_sampled
    ok = [rec for rec in report.iteration_log if rec.ok]
    failed = [rec for rec in report.iteration_log if not rec.ok]
    assert len(ok) == 50 and len(failed) == 40  # failures under the cap are all kept
    assert max(rec.iteration for rec in ok) > 300  # the sample spans the run
    assert [r.iteration for r in report.iteration_log] == sorted(
        r.iteration for r in report.iteration_log
    )
    assert report.durations.count == 400  # statistics still see every iteration


def test_failures_list_is_bounded_but_counts_and_patterns_cover_every_failure() -> None:
    from chaoskit.report.model import ReportBuilder

    builder = ReportBuilder()
    builder.max_failures = 5
    failing = {i: f"timeout after {i} ms" if i % 3 else f"reset #{i}" for i in range(40)}
    for ev in make_events(iterations=40, failing=failing, warning_violation=False):
        builder.on_event(ev)
    report = builder.build()
    assert len(report.failures) == 5 and report.failed_iterations == 40
    assert report.failures_truncated
    top = report.top_errors()
    assert [(p.pattern, p.count) for p in top] == [("timeout after N ms", 26), ("reset #N", 14)]
    assert top[1].first_iteration == 0 and top[1].last_iteration == 39
    assert report.failures_by_type == {"TimeoutError": 40}
    text = report.to_text()
    assert "Failed iterations (first 5 of 40)" in text
    assert "26x  TimeoutError: timeout after N ms" in text


def test_pattern_counter_lumps_patterns_beyond_its_limit() -> None:
    from chaoskit.report.model import Failure
    from chaoskit.report.verdict import PatternCounter

    counter = PatternCounter(max_patterns=3)
    for i, word in enumerate(["alpha", "beta", "gamma", "delta", "epsilon", "alpha"]):
        counter.add(Failure(iteration=i, step="s", error=f"{word} failed"))
    top = {p.pattern: p.count for p in counter.top()}
    assert top == {"alpha failed": 2, "beta failed": 1, "gamma failed": 1, "(other patterns)": 2}
