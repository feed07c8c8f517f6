"""Resource and composite injectors against the real process table and memory."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

import chaoskit as ck
from chaoskit import injectors


def test_cpu_stress_runs_busy_processes_and_stops_them() -> None:
    inj = injectors.cpu_stress(workers=1, load=1.0)
    measured: list[float] = []

    def step(t: Any) -> None:
        procs = [psutil.Process(pid) for pid in inj.pids]
        for p in procs:
            p.cpu_percent(None)
        time.sleep(0.5)
        measured.extend(p.cpu_percent(None) for p in procs)

    report = ck.run(ck.scenario("cpu").step("s", step).inject("cpu", inj).build())
    assert report.passed
    assert measured and measured[0] > 30.0, f"child used {measured}% CPU"
    for pid in inj.pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert report.injections["cpu"]["cpu_stress"] == 1


def test_memory_pressure_holds_memory_until_stopped() -> None:
    inj = injectors.memory_pressure("64MiB")
    seen: list[int] = []
    proc = psutil.Process()
    before = proc.memory_info().rss
    ck.run(
        ck.scenario("mem")
        .step("s", lambda t: seen.append(proc.memory_info().rss))
        .inject("m", inj)
        .build()
    )
    assert seen[0] - before > 50 * 1024 * 1024
    assert inj.held == 0


def test_composite_starts_in_order_stops_in_reverse_and_undoes_a_failed_start() -> None:
    log: list[str] = []

    class Part(injectors.BaseInjector):
        def __init__(self, tag: str, fail: bool = False) -> None:
            super().__init__(tag)
            self.tag, self.fail = tag, fail

        def start(self, ctx: ck.RunContext) -> None:
            if self.fail:
                raise RuntimeError("cannot start")
            log.append(f"start {self.tag}")

        def stop(self, ctx: ck.RunContext) -> None:
            log.append(f"stop {self.tag}")

    ck.run(
        ck.scenario("c")
        .step("s", lambda t: None)
        .inject("all", injectors.composite(Part("a"), Part("b")))
        .build()
    )
    assert log == ["start a", "start b", "stop b", "stop a"]
    log.clear()
    with pytest.raises(RuntimeError, match="cannot start"):
        ck.run(
            ck.scenario("c")
            .step("s", lambda t: None)
            .inject("all", injectors.composite(Part("a"), Part("x", fail=True)))
            .build()
        )
    assert log == ["start a", "stop a"]


def test_bad_resource_arguments_are_config_errors() -> None:
    for inj in (
        injectors.cpu_stress(workers=0),
        injectors.memory_pressure("lots"),
        injectors.cpu_stress(load=2),
    ):
        with pytest.raises(ck.ConfigError):
            ck.scenario("x").step("s", lambda t: None).inject("i", inj).build()


def test_composite_injector_without_parts_is_a_config_error() -> None:
    with pytest.raises(ck.ConfigError, match="at least one part"):
        ck.scenario("x").step("s", lambda t: None).inject("c", injectors.composite()).build()
