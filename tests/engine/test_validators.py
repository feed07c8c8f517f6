"""Built-in validators, each driven by a real scenario that violates it and one that does not."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import chaoskit as ck
from chaoskit import injectors, validators


def _run(step: Any, name: str, validator: Any, repeat: int = 3, **kw: Any) -> ck.Report:
    b = ck.scenario("v").step("s", step).check(name, validator).repeat(repeat)
    for k, v in kw.items():
        b = getattr(b, k)(v) if not isinstance(v, tuple) else b.inject(*v)
    return ck.Executor(ck.CONTINUE_ON_FAILURE).run(b.build())


def test_thread_limit_fails_when_too_many_threads_are_alive() -> None:
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def step(t: Any) -> None:
        for _ in range(5):
            th = threading.Thread(target=stop.wait, daemon=True)
            th.start()
            threads.append(th)

    try:
        report = _run(step, "threads", validators.thread_limit(8), repeat=3)
    finally:
        stop.set()
        for th in threads:
            th.join()
    v = report.verdicts["threads"]
    assert not v.passed and "limit 8" in v.message
    assert report.failures[0].iteration == 1  # 1 + 10 threads after the second iteration
    assert _run(lambda t: None, "threads", validators.thread_limit(8)).passed


def test_no_thread_leak_names_the_leaked_thread() -> None:
    stop = threading.Event()

    def leaky(t: Any) -> None:
        threading.Thread(target=stop.wait, name="leaky-worker", daemon=True).start()

    try:
        report = _run(leaky, "leak", validators.no_thread_leak(grace=0.05), repeat=2)
    finally:
        stop.set()
    v = report.verdicts["leak"]
    assert not v.passed and v.violations == 2 and "leaky-worker" in v.message
    assert report.leaks["threads"] == 2

    def joined(t: Any) -> None:
        th = threading.Thread(target=lambda: None)
        th.start()
        th.join()

    assert _run(joined, "leak", validators.no_thread_leak()).passed


def test_no_task_leak_reports_and_cancels_pending_tasks() -> None:
    async def leaky(t: Any) -> None:
        asyncio.create_task(asyncio.sleep(60), name="forgotten")  # noqa: RUF006 - the leak under test

    report = _run(leaky, "tasks", validators.no_task_leak(), repeat=2)
    v = report.verdicts["tasks"]
    assert not v.passed and v.violations == 2 and "sleep" in v.message

    async def clean(t: Any) -> None:
        await asyncio.create_task(asyncio.sleep(0))

    assert _run(clean, "tasks", validators.no_task_leak()).passed


def test_recursion_depth_limit_names_function_and_depth() -> None:
    def rollback(n: int) -> None:
        ck.record_recursion_depth(n, "saga:rollback")
        if n < 12:
            rollback(n + 1)

    report = _run(lambda t: rollback(1), "rec", validators.recursion_depth_limit(10), repeat=2)
    v = report.verdicts["rec"]
    assert not v.passed and v.message == "saga:rollback recursed to depth 12 (limit 10)"
    assert report.max_depths["saga:rollback"] == 12
    assert _run(lambda t: rollback(5), "rec", validators.recursion_depth_limit(20)).passed


def test_no_infinite_loop_ends_a_hung_run_with_the_stuck_location() -> None:
    def spin(t: Any) -> None:
        x = 0
        while True:  # the hang: line below is reported
            x += 1

    t0 = time.monotonic()
    report = ck.Executor(ck.CONTINUE_ON_FAILURE).run(
        ck.scenario("hang")
        .step("spin", spin)
        .check("no-hang", validators.no_infinite_loop(0.3))
        .run_for(60)
        .build()
    )
    assert time.monotonic() - t0 < 20, "the run ended instead of hanging"
    v = report.verdicts["no-hang"]
    assert (
        not v.passed and "test_validators.py" in v.message and v.message.endswith("<locals>.spin")
    )
    assert report.loops and report.loops[0]["location"].startswith(
        "tests/engine/test_validators.py:"
    )
    assert report.iterations == 1 and report.failures[0].error_type == "HangDetected"
    assert report.interrupted and report.interrupt_reason == "hang"


def test_hang_detection_survives_code_that_swallows_exceptions() -> None:
    def retry_forever(t: Any) -> None:
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                continue

    report = ck.Executor(ck.CONTINUE_ON_FAILURE).run(
        ck.scenario("hang")
        .step("retry", retry_forever)
        .check("h", validators.no_infinite_loop(0.2))
        .repeat(5)
        .build()
    )
    assert not report.verdicts["h"].passed and report.iterations == 1


def test_slow_iteration_and_execution_time() -> None:
    report = _run(lambda t: time.sleep(0.05), "slow", validators.slow_iteration("20ms"), repeat=2)
    v = report.verdicts["slow"]
    # slow iterations are critical under the default thresholds, a warning on their own
    assert not v.passed and v.severity == "critical" and v.violations == 2
    assert validators.slow_iteration("20ms").severity == "warning"
    report = _run(lambda t: time.sleep(0.03), "time", validators.execution_time(0.01), repeat=2)
    assert not report.verdicts["time"].passed
    assert _run(lambda t: None, "time", validators.execution_time(1.0)).passed


def test_memory_limit_catches_rss_growth() -> None:
    hoard: list[bytearray] = []

    def grow(t: Any) -> None:
        block = bytearray(60 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        hoard.append(block)

    import psutil

    base = psutil.Process().memory_info().rss
    report = _run(grow, "mem", validators.memory_limit(base + 100 * 1024 * 1024), repeat=3)
    hoard.clear()
    v = report.verdicts["mem"]
    assert not v.passed and "over the limit" in v.message
    assert report.peak_rss is not None and report.peak_rss > base


def test_panic_recovery_distinguishes_recovered_from_escaped_panics() -> None:
    def recovering(t: Any) -> None:
        try:
            ck.maybe_panic()
        except ck.ChaosPanic as exc:
            ck.record_panic(exc)

    report = _run(
        recovering,
        "pr",
        validators.panic_recovery(),
        repeat=3,
        inject=("p", injectors.panic_probability(1.0)),
    )
    assert report.passed and report.panics_recovered == 3

    report = _run(
        lambda t: ck.maybe_panic(),
        "pr",
        validators.panic_recovery(),
        repeat=3,
        inject=("p", injectors.panic_probability(1.0)),
    )
    assert not report.verdicts["pr"].passed


def test_state_consistency_checks_the_target() -> None:
    class Account:
        balance = 0

    acct = Account()

    def step(t: Account) -> None:
        t.balance += 1

    report = ck.Executor(ck.CONTINUE_ON_FAILURE).run(
        ck.scenario("s")
        .target(acct)
        .step("s", step)
        .check(
            "bounded",
            validators.state_consistency(lambda a: a.balance <= 2 or f"balance {a.balance} > 2"),
        )
        .repeat(4)
        .build()
    )
    v = report.verdicts["bounded"]
    assert not v.passed and v.first_iteration == 2 and v.message == "balance 3 > 2"


def test_composite_validator_reports_every_failing_part() -> None:
    def step(t: Any) -> None:
        ck.record_recursion_depth(50, "f")
        time.sleep(0.02)

    combo = validators.composite(
        validators.recursion_depth_limit(10),
        validators.slow_iteration(0.01),
        validators.thread_limit(100),
    )
    report = _run(step, "all", combo, repeat=1)
    msg = report.verdicts["all"].message
    assert "recursion_depth_limit: f recursed to depth 50" in msg and "slow_iteration" in msg
    assert "thread_limit" not in msg


def test_severity_given_to_check_wins_over_the_default_thresholds() -> None:
    """DEFAULT makes slow_iteration critical, but an explicit warning is a warning."""
    report = ck.Executor(ck.CONTINUE_ON_FAILURE).run(
        ck.scenario("sev")
        .step("s", lambda t: time.sleep(0.03))
        .check("slow", validators.slow_iteration("5ms"), severity="warning")
        .repeat(2)
        .build()
    )
    v = report.verdicts["slow"]
    assert not v.passed and v.severity == "warning"
    assert report.success_rate == 1.0, "a warning does not fail the iteration"
    assert report.verdict.name == "UNSTABLE"


def test_sub_millisecond_thresholds_are_printed_readably() -> None:
    report = _run(lambda t: time.sleep(0.002), "slow", validators.slow_iteration(0.00001), repeat=1)
    assert "(threshold 0.01ms)" in report.verdicts["slow"].message
