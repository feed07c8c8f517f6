"""Context chaos: maybe_* hooks and records, inside and outside a running scenario."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest

import chaoskit as ck
from chaoskit import injectors
from chaoskit.context import NetworkAction, current
from chaoskit.events import InjectionApplied, PanicRecorded, RecursionDepth


def test_hooks_do_nothing_outside_a_scenario() -> None:
    assert current() is None
    t0 = time.perf_counter()
    for _ in range(1000):
        ck.maybe_panic()
        ck.maybe_delay()
        ck.maybe_error()
        ck.maybe_network_chaos("db", 5432)
        ck.record_recursion_depth(10_000)
        ck.record_panic(RuntimeError("x"))
    assert time.perf_counter() - t0 < 1.0
    asyncio.run(_async_hooks())


async def _async_hooks() -> None:
    await ck.maybe_panic_async()
    await ck.maybe_delay_async()
    await ck.maybe_error_async()
    await ck.maybe_network_chaos_async("db", 5432)


def _run(
    step: Any, *injs: tuple[str, Any], repeat: int = 1, events: list[Any] | None = None
) -> ck.Report:
    b = ck.scenario("ctx").step("s", step).repeat(repeat).seed(1)
    for name, inj in injs:
        b = b.inject(name, inj)
    ex = ck.Executor(ck.CONTINUE_ON_FAILURE)
    if events is not None:

        class Sub:
            def attach(self, bus: ck.EventBus) -> None:
                self.un = bus.subscribe(events.append)

            def detach(self) -> None:
                self.un()

        ex = ck.Executor(ck.CONTINUE_ON_FAILURE, subscribers=[Sub()])
    return ex.run(b.build())


def test_maybe_delay_sleeps_within_the_injectors_bounds() -> None:
    elapsed: list[float] = []

    def step(t: Any) -> None:
        t0 = time.perf_counter()
        ck.maybe_delay()
        elapsed.append(time.perf_counter() - t0)

    report = _run(step, ("d", injectors.random_delay(0.02, 0.03)), repeat=3)
    assert report.passed
    assert all(0.019 <= e < 0.5 for e in elapsed)
    assert report.injections["d"]["delay"] == 3


def test_maybe_panic_raises_chaos_panic_and_maybe_error_raises_the_configured_error() -> None:
    def step(t: Any) -> None:
        with pytest.raises(ck.ChaosPanic):
            ck.maybe_panic()
        with pytest.raises(TimeoutError, match="chaos error"):
            ck.maybe_error()

    report = _run(
        step,
        ("p", injectors.panic_probability(1.0)),
        ("e", injectors.error_probability(1.0, TimeoutError)),
    )
    assert report.passed, report.failures


def test_async_twins_await_instead_of_blocking() -> None:
    async def step(t: Any) -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.002)

        task = asyncio.create_task(ticker())
        await ck.maybe_delay_async()
        task.cancel()
        assert ticks >= 5, "the loop kept running during the delay"
        with pytest.raises(ck.ChaosPanic):
            await ck.maybe_panic_async()

    report = _run(
        step, ("d", injectors.random_delay(0.05, 0.05)), ("p", injectors.panic_probability(1.0))
    )
    assert report.passed, report.failures


def test_context_follows_asyncio_tasks_and_copied_contexts_and_threads_fall_back() -> None:
    seen: dict[str, int | None] = {}

    def step(t: Any) -> None:
        ctx = current()
        assert ctx is not None
        seen["step"] = ctx.iteration

        async def in_task() -> None:
            c = current()
            seen["task"] = c.iteration if c else None

        asyncio.run(in_task())
        th = threading.Thread(
            target=lambda: seen.__setitem__("thread", getattr(current(), "iteration", None))
        )
        th.start()
        th.join()
        copied = contextvars.copy_context()
        copied.run(lambda: seen.__setitem__("copied", getattr(current(), "iteration", None)))

    assert _run(step).passed
    assert seen == {"step": 0, "task": 0, "thread": 0, "copied": 0}


def test_records_are_events_new_depth_maxima_only() -> None:
    events: list[Any] = []

    def step(t: Any) -> None:
        for d in (1, 2, 3, 2, 1, 3):
            ck.record_recursion_depth(d, "f")
        try:
            raise ck.ChaosPanic("x")
        except ck.ChaosPanic as exc:
            ck.record_panic(exc)

    report = _run(step, events=events)
    depths = [e.depth for e in events if isinstance(e, RecursionDepth)]
    assert depths == [1, 2, 3]
    panics = [e for e in events if isinstance(e, PanicRecorded)]
    assert len(panics) == 1 and panics[0].injected and panics[0].recovered
    assert report.max_depths == {"f": 3} and report.panics_recovered == 1


def test_network_chaos_hook_consults_network_providers() -> None:
    class Refuse(injectors.BaseInjector):
        kind = "refuse"

        def network_chaos_for(self, ctx: Any, host: str, port: int) -> NetworkAction | None:
            if port == 6379:
                return NetworkAction(
                    delay=0.01, error=ConnectionRefusedError(f"{host}:{port} refused")
                )
            return None

    events: list[Any] = []

    def step(t: Any) -> None:
        ck.maybe_network_chaos("localhost", 5432)
        with pytest.raises(ConnectionRefusedError, match="6379"):
            ck.maybe_network_chaos("localhost", 6379)

    report = _run(step, ("net", Refuse()), events=events)
    assert report.passed, report.failures
    applied = [e for e in events if isinstance(e, InjectionApplied)]
    assert [(e.injector, e.action) for e in applied] == [("net", "network")]


def test_interval_delay_fires_once_per_interval() -> None:
    delays = 0

    def step(t: Any) -> None:
        nonlocal delays
        t0 = time.perf_counter()
        ck.maybe_delay()
        if time.perf_counter() - t0 >= 0.009:
            delays += 1
        time.sleep(0.01)

    report = _run(step, ("i", injectors.interval_delay(0.01, 0.1)), repeat=25)
    assert report.passed
    assert 1 <= delays <= 6
