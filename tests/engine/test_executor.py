"""The executor: iterations, steps, policies, seeds, async, events and cleanup."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import chaoskit as ck
from chaoskit import injectors, validators
from chaoskit.events import read_events


def test_repeat_runs_every_step_in_order_each_iteration() -> None:
    calls: list[str] = []
    s = (
        ck.scenario("order")
        .step("first", lambda t: calls.append("first"))
        .step("second", lambda t: calls.append("second"))
        .repeat(3)
        .build()
    )
    report = ck.run(s)
    assert calls == ["first", "second"] * 3
    assert report.iterations == 3 and report.passed and report.success_rate == 1.0


def test_target_is_passed_to_steps_and_its_hooks_run_once() -> None:
    class Target:
        name = "svc"

        def __init__(self) -> None:
            self.events: list[str] = []

        def setup(self) -> None:
            self.events.append("setup")

        def teardown(self) -> None:
            self.events.append("teardown")

    target = Target()
    ck.run(
        ck.scenario("t")
        .target(target)
        .step("s", lambda t: t.events.append("step"))
        .repeat(2)
        .build()
    )
    assert target.events == ["setup", "step", "step", "teardown"]


def test_async_steps_and_async_target_hooks_run_on_the_executors_loop() -> None:
    loops: set[int] = set()

    class Target:
        async def setup(self) -> None:
            loops.add(id(asyncio.get_running_loop()))
            self.ready = True

        async def teardown(self) -> None:
            loops.add(id(asyncio.get_running_loop()))

    async def step(t: Target) -> None:
        assert t.ready
        loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0)

    report = ck.run(ck.scenario("a").target(Target()).step("s", step).repeat(3).build())
    assert report.iterations == 3 and report.passed
    assert len(loops) == 1, "setup, steps and teardown share one loop with one worker"


def test_fail_fast_stops_at_first_failed_iteration() -> None:
    seen: list[int] = []

    def step(t: Any) -> None:
        seen.append(1)
        if len(seen) == 3:
            raise RuntimeError("boom")

    report = ck.Executor().run(ck.scenario("ff").step("s", step).repeat(10).build())
    assert report.iterations == 3
    assert len(report.failures) == 1
    f = report.failures[0]
    assert (f.iteration, f.step) == (2, "s") and "RuntimeError: boom" in f.error


def test_continue_on_failure_collects_every_failure() -> None:
    counter = iter(range(100))

    def step(t: Any) -> None:
        if next(counter) % 2:
            raise ValueError("odd")

    report = ck.Executor(ck.CONTINUE_ON_FAILURE).run(
        ck.scenario("c").step("s", step).repeat(10).build()
    )
    assert report.iterations == 10
    assert [f.iteration for f in report.failures] == [1, 3, 5, 7, 9]
    assert report.success_rate == pytest.approx(0.5)


def test_run_raises_scenario_failed_carrying_the_report() -> None:
    def step(t: Any) -> None:
        raise OSError("disk full")

    with pytest.raises(ck.ScenarioFailed) as info:
        ck.run(ck.scenario("f").step("save", step).repeat(5).build())
    report = info.value.report
    assert not report.passed
    assert report.failures[0].step == "save"
    assert "disk full" in report.failures[0].error


def test_run_for_runs_until_the_duration_elapses() -> None:
    report = ck.run(ck.scenario("d").step("s", lambda t: None).run_for(0.3).build())
    assert report.iterations > 10
    assert 0.25 <= report.duration < 5.0


def test_workers_run_iterations_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=10)
    names: set[str] = set()

    def step(t: Any) -> None:
        names.add(threading.current_thread().name)
        barrier.wait()

    report = ck.run(ck.scenario("w").step("s", step).repeat(6).workers(3).build())
    assert report.iterations == 6 and report.passed
    assert len(names) == 3


def _panic_iterations(seed: int) -> list[int]:
    def step(t: Any) -> None:
        ck.maybe_panic()

    s = (
        ck.scenario("seeded")
        .step("s", step)
        .inject("p", injectors.panic_probability(0.3))
        .repeat(60)
        .seed(seed)
        .build()
    )
    report = ck.Executor(ck.CONTINUE_ON_FAILURE).run(s)
    assert report.seed == seed
    return [f.iteration for f in report.failures]


def test_same_seed_makes_the_same_decisions_in_the_same_iterations() -> None:
    first = _panic_iterations(42)
    assert first == _panic_iterations(42)
    assert 5 < len(first) < 40
    assert first != _panic_iterations(43)


def test_a_random_seed_is_chosen_and_reported_when_none_is_given() -> None:
    a = ck.run(ck.scenario("r").step("s", lambda t: None).build())
    b = ck.run(ck.scenario("r").step("s", lambda t: None).build())
    assert isinstance(a.seed, int) and a.seed != b.seed


def test_events_are_written_as_json_lines_and_flushed_every_iteration(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines_seen: list[int] = []

    def step(t: Any) -> None:
        # the previous iteration's events must already be on disk
        lines_seen.append(len(path.read_text().splitlines()))

    ck.Executor(events_path=path).run(ck.scenario("e").step("s", step).repeat(3).build())
    assert lines_seen[1] > lines_seen[0] > 0
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
    assert kinds.count("iteration.finished") == 3
    events = list(read_events(path))
    rebuilt = ck.Report.from_events(events)
    assert rebuilt.iterations == 3 and rebuilt.passed


def test_injectors_are_stopped_and_target_torn_down_when_a_step_fails() -> None:
    log: list[str] = []

    class Tracking(injectors.BaseInjector):
        def start(self, ctx: ck.RunContext) -> None:
            log.append("start")

        def stop(self, ctx: ck.RunContext) -> None:
            log.append("stop")

    class Target:
        def teardown(self) -> None:
            log.append("teardown")

    def step(t: Any) -> None:
        raise RuntimeError("x")

    with pytest.raises(ck.ScenarioFailed):
        ck.run(ck.scenario("c").target(Target()).step("s", step).inject("i", Tracking()).build())
    assert log == ["start", "stop", "teardown"]


def test_setup_failure_propagates_after_cleanup(tmp_path: Path) -> None:
    class Target:
        def setup(self) -> None:
            raise ConnectionError("db down")

    path = tmp_path / "ev.jsonl"
    with pytest.raises(ConnectionError):
        ck.Executor(events_path=path).run(
            ck.scenario("s").target(Target()).step("s", lambda t: None).build()
        )
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds[-1] == "run.finished"
    assert not ck.context.active()


def test_keyboard_interrupt_ends_the_run_with_an_interrupted_report() -> None:
    import _thread

    count = 0

    def step(t: Any) -> None:
        nonlocal count
        count += 1
        if count == 5:
            _thread.interrupt_main()

    stopped: list[str] = []

    class Tracking(injectors.BaseInjector):
        def stop(self, ctx: ck.RunContext) -> None:
            stopped.append("stop")

    t0 = time.monotonic()
    report = ck.Executor().run(
        ck.scenario("ki").step("s", step).inject("t", Tracking()).run_for(60).build()
    )
    assert time.monotonic() - t0 < 30, "the interrupt ended the run early"
    assert report.interrupted and report.interrupt_reason == "KeyboardInterrupt"
    assert not report.passed
    assert stopped == ["stop"]
    assert report.iterations >= 5


def test_executor_rejects_unbuilt_scenarios_and_bad_policies() -> None:
    with pytest.raises(ck.ConfigError, match=r"call \.build"):
        ck.Executor().run(ck.scenario("x").step("s", lambda t: None))  # type: ignore[arg-type]
    with pytest.raises(ck.ConfigError, match="failure_policy"):
        ck.Executor("fast")  # type: ignore[arg-type]


def test_reporter_callable_receives_the_final_report() -> None:
    got: list[ck.Report] = []
    ck.Executor(reporter=got.append).run(
        ck.scenario("x").step("s", lambda t: None).repeat(2).build()
    )
    assert got and got[0].iterations == 2


def test_json_logs_are_structured(capsys: pytest.CaptureFixture[str]) -> None:
    ck.Executor(json_logs=True, log_level="info").run(
        ck.scenario("logs").step("s", lambda t: None).build()
    )
    err = capsys.readouterr().err.strip().splitlines()
    records = [json.loads(line) for line in err]
    assert any(r["event"] == "run finished" and r["scenario"] == "logs" for r in records)


def test_validators_see_iteration_failures_from_injected_faults() -> None:
    def step(t: Any) -> None:
        ck.maybe_panic()

    report = ck.Executor(ck.CONTINUE_ON_FAILURE).run(
        ck.scenario("pr")
        .step("s", step)
        .inject("panic", injectors.panic_probability(1.0))
        .check("recovered", validators.panic_recovery())
        .repeat(3)
        .build()
    )
    v = report.verdicts["recovered"]
    assert not v.passed and v.violations >= 3
    assert report.injections["panic"]["panic"] == 3


def test_report_from_a_log_path_and_a_crashed_log_is_never_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    ck.Executor(events_path=path).run(ck.scenario("e").step("s", lambda t: None).repeat(4).build())
    rebuilt = ck.Report.from_events(str(path))
    assert rebuilt.iterations == 4 and rebuilt.passed
    # a run killed mid-way leaves no run.finished line
    lines = path.read_text().splitlines()
    crashed = tmp_path / "crashed.jsonl"
    crashed.write_text("\n".join(line for line in lines if '"run.finished"' not in line) + "\n")
    report = ck.Report.from_events(crashed)
    assert report.interrupted and "never finished" in (report.interrupt_reason or "")
    assert not report.passed
