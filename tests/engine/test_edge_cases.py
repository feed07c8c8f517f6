"""Edge cases found by trying the documented surface as a new user would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import chaoskit as ck
from chaoskit import injectors, validators
from chaoskit.events import read_events

ORIGINAL_THREAD_START = threading.Thread.start

CTRL_C_DURING_STEP = """
import _thread, threading, time
import chaoskit as ck

log = []

class Target:
    def teardown(self):
        log.append("teardown")

def step(t):
    log.append("step-start")
    time.sleep(1.0)
    log.append("step-end")

s = ck.scenario("sig").target(Target()).step("s", step).repeat(1).build()
threading.Timer(0.3, _thread.interrupt_main).start()
report = ck.Executor(log_level="critical").run(s)
print("INTERRUPTED", report.interrupted, report.interrupt_reason)
print("LOG", ",".join(log))
"""


def test_ctrl_c_waits_for_the_running_step_before_teardown() -> None:
    """An interrupted join() must not make the executor believe the worker has ended
    (CPython < 3.13 marks the thread stopped), so teardown runs after the step."""
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C_DURING_STEP],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "INTERRUPTED True KeyboardInterrupt" in proc.stdout
    assert "LOG step-start,step-end,teardown" in proc.stdout


def test_cancelled_error_in_an_async_step_fails_the_iteration() -> None:
    async def step(t: object) -> None:
        raise asyncio.CancelledError()

    s = ck.scenario("cancel").step("s", step).repeat(3).build()
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE, log_level="critical").run(s)
    assert report.iterations == 3
    assert [(f.iteration, f.step) for f in report.failures] == [(0, "s"), (1, "s"), (2, "s")]
    assert "CancelledError" in str(report.failures[0].error)


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt()])
def test_system_exit_or_keyboard_interrupt_in_a_step_fails_it_and_ends_the_run(
    exc: BaseException,
) -> None:
    def step(t: object) -> None:
        raise exc

    s = ck.scenario("exit").step("s", step).repeat(50).build()
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE, log_level="critical").run(s)
    assert report.iterations == 1
    assert report.failures[0].step == "s"
    assert type(exc).__name__ in str(report.failures[0].error)
    assert report.interrupted and report.interrupt_reason == type(exc).__name__


def test_generator_steps_are_rejected_at_build() -> None:
    """A generator step would return a generator and never run its body."""

    def gen(t: object) -> object:
        yield 1

    async def agen(t: object) -> object:
        yield 1

    for fn in (gen, agen):
        with pytest.raises(ck.ConfigError, match=r"step 's'.*generator"):
            ck.scenario("g").step("s", fn).build()


def test_async_state_check_is_awaited() -> None:
    async def balance_ok(target: object) -> bool:
        await asyncio.sleep(0)
        return False

    s = (
        ck.scenario("state")
        .step("s", lambda t: None)
        .check("balance", validators.state_consistency(balance_ok))
        .repeat(2)
        .build()
    )
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE, log_level="critical").run(s)
    assert not report.passed
    assert "balance_ok returned False" in report.verdicts["balance"].message


def test_execution_time_and_random_delay_take_the_documented_keywords() -> None:
    """README: ``execution_time(max, min=0, percentile=95)``, ``random_delay(min, max)``."""
    v = validators.execution_time(max="1s", min="10ms", percentile=99)
    assert (v.max_time, v.min_time, v.percentile) == (1.0, 0.01, 99.0)
    d = injectors.random_delay(min="5ms", max="25ms", probability=0.5)
    assert (d.min, d.max, d.probability) == (0.005, 0.025, 0.5)


@pytest.mark.parametrize(
    ("validator", "message"),
    [
        (validators.execution_time("10ms", "1s"), "min"),
        (validators.execution_time("1s", percentile=101), "percentile"),
        (validators.execution_time("1s", percentile=float("nan")), "percentile"),
    ],
)
def test_bad_execution_time_arguments_fail_at_build(validator: object, message: str) -> None:
    with pytest.raises(ck.ConfigError, match=message):
        ck.scenario("t").step("s", lambda t: None).check("time", validator).build()


def test_nan_run_for_is_a_config_error_instead_of_an_endless_run() -> None:
    with pytest.raises(ck.ConfigError, match="run_for"):
        ck.scenario("n").step("s", lambda t: None).run_for(float("nan")).build()
    with pytest.raises(ck.ConfigError, match="no_infinite_loop"):
        (
            ck.scenario("n")
            .step("s", lambda t: None)
            .check("hang", validators.no_infinite_loop(float("nan")))
            .build()
        )


def test_infinite_size_is_a_config_error() -> None:
    with pytest.raises(ck.ConfigError, match="memory_pressure"):
        (
            ck.scenario("m")
            .step("s", lambda t: None)
            .inject("mem", injectors.memory_pressure(float("inf")))
            .build()
        )


def test_bad_chaoskit_seed_is_a_config_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from chaoskit import failpoint"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHAOSKIT_SEED": "abc"},
    )
    assert proc.returncode != 0
    assert (
        "ConfigError" in proc.stderr and "CHAOSKIT_SEED" in proc.stderr and "'abc'" in proc.stderr
    )


def test_no_thread_leak_with_workers_ignores_other_workers_threads() -> None:
    """With several workers, threads a concurrent step starts and joins are not leaks of
    the iteration that happens to finish meanwhile; a real leak is still reported."""

    def joined(t: object) -> None:
        th = threading.Thread(target=time.sleep, args=(0.02,))
        th.start()
        th.join()

    s = (
        ck.scenario("joined")
        .step("s", joined)
        .check("leak", validators.no_thread_leak(grace=0))
        .workers(4)
        .repeat(60)
        .build()
    )
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE, log_level="critical").run(s)
    assert report.failures == []
    assert threading.Thread.start is ORIGINAL_THREAD_START

    release = threading.Event()

    def leaky(t: object) -> None:
        threading.Thread(target=release.wait, name="leaky", daemon=True).start()

    s = (
        ck.scenario("leaky")
        .step("s", leaky)
        .check("leak", validators.no_thread_leak(grace=0))
        .workers(2)
        .repeat(4)
        .build()
    )
    try:
        report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE, log_level="critical").run(s)
    finally:
        release.set()
    assert len(report.failures) == 4
    assert all("leaky" in str(f.error) for f in report.failures)


def test_hang_in_an_async_step_points_at_the_awaiting_coroutine() -> None:
    """Not at selectors.py, where the event loop's thread waits."""

    async def poll_forever() -> None:
        while True:
            await asyncio.sleep(0.001)  # the line the report must name

    async def step(t: object) -> None:
        await poll_forever()

    s = (
        ck.scenario("ahang")
        .step("s", step)
        .check("hang", validators.no_infinite_loop("300ms"))
        .repeat(2)
        .build()
    )
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE, log_level="critical").run(s)
    line = poll_forever.__code__.co_firstlineno + 2
    assert report.interrupted and report.interrupt_reason == "hang"
    assert f"test_edge_cases.py:{line} in " in report.verdicts["hang"].message
    assert "poll_forever" in report.verdicts["hang"].message


def test_unknown_event_kind_in_a_log_names_the_line_and_file(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    s = ck.scenario("log").step("s", lambda t: None).repeat(1).build()
    ck.Executor(events_path=log, log_level="critical").run(s)
    lines = log.read_text().splitlines()
    lines.insert(1, '{"kind": "no.such.kind", "ts": 1, "iteration": null}')
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(ck.ConfigError) as info:
        list(read_events(log))
    assert "line 2" in str(info.value) and "no.such.kind" in str(info.value)
    assert str(log) in str(info.value)


def test_hang_blocked_in_the_standard_library_points_at_the_callers_line() -> None:
    """A step stuck in ``Event.wait`` is reported where it waits, not in threading.py."""
    never = threading.Event()

    def step(t: object) -> None:
        never.wait()  # the line the report must name

    s = (
        ck.scenario("blocked")
        .step("s", step)
        .check("hang", validators.no_infinite_loop("200ms"))
        .repeat(2)
        .build()
    )
    try:
        report = ck.Executor(log_level="critical", stop_grace=0.3).run(s)
    finally:
        never.set()
    line = step.__code__.co_firstlineno + 1
    assert f"test_edge_cases.py:{line} in " in report.verdicts["hang"].message
    assert "threading.py" not in report.verdicts["hang"].message
