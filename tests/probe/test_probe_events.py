"""The probe on the event stream: depth events per iteration, exceptions, scenarios."""

from __future__ import annotations

import sys

import pytest

import chaoskit as ck
from chaoskit import validators
from chaoskit.events import (
    EventBus,
    ExceptionRaised,
    IterationFinished,
    IterationStarted,
    RecursionDepth,
    read_events,
)
from chaoskit.hooks.probe import probe

SOURCE = """
def down(n):
    return 0 if n == 0 else 1 + down(n - 1)

def risky(fail):
    try:
        if fail:
            raise ConnectionError("flaky")
    except ConnectionError:
        return "retried"
    return "ok"
"""


def collect(bus, kinds):
    seen = []
    bus.subscribe(seen.append, kinds)
    return seen


def test_depth_events_only_on_a_new_maximum_per_iteration(make_module, backend):
    mod = make_module(SOURCE)
    bus = EventBus()
    seen = collect(bus, (RecursionDepth,))
    with probe(mod.__name__, bus=bus, backend=backend):
        for iteration, depths in enumerate([(3, 5, 4), (2,), (6, 6)]):
            bus.publish(IterationStarted(iteration=iteration))
            for depth in depths:
                mod.down(depth - 1)
            bus.publish(IterationFinished(iteration=iteration, duration=0.0, ok=True))
    name = f"{mod.__name__}:down"
    got = [(e.iteration, e.function, e.depth, e.source) for e in seen]
    # iteration 0: 2 then 3 ... 5 (each new maximum once), iteration 1: 2, iteration 2: 2..6
    assert got == (
        [(0, name, d, "probe") for d in (2, 3, 4, 5)]
        + [(1, name, 2, "probe")]
        + [(2, name, d, "probe") for d in (2, 3, 4, 5, 6)]
    )


def test_exception_events_carry_the_iteration(make_module, exc_backend):
    mod = make_module(SOURCE)
    bus = EventBus()
    seen = collect(bus, (ExceptionRaised,))
    with probe(mod.__name__, bus=bus, backend=exc_backend):
        bus.publish(IterationStarted(iteration=7))
        mod.risky(True)
        mod.risky(False)
        bus.publish(IterationFinished(iteration=7, duration=0.0, ok=True))
    assert [(e.iteration, e.function, e.exc_type, e.handled) for e in seen] == [
        (7, f"{mod.__name__}:risky", "ConnectionError", True)
    ]


def test_no_bus_outside_a_scenario_publishes_nothing(make_module, backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=backend) as p:
        mod.down(4)
    assert p.max_depths[f"{mod.__name__}:down"] == 5


def test_scenario_probe_fails_recursion_limit_naming_function_and_depth(make_module):
    """Unmodified code recursing too deep fails the scenario through .probe(...)."""
    mod = make_module(SOURCE)
    depth = iter([10, 30, 12])
    scenario = (
        ck.scenario("deep-recursion")
        .step("walk", lambda _target: mod.down(next(depth)))
        .probe(mod.__name__)
        .check("recursion", validators.recursion_depth_limit(20))
        .repeat(3)
        .build()
    )
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE).run(scenario)
    assert not report.passed
    assert [f.iteration for f in report.failures] == [1]
    message = str(report.failures[0].error)
    assert f"{mod.__name__}:down" in message
    assert "depth 31" in message
    assert report.max_depths[f"{mod.__name__}:down"] == 31


def test_scenario_probe_within_limit_passes(make_module):
    mod = make_module(SOURCE)
    scenario = (
        ck.scenario("shallow")
        .step("walk", lambda _target: mod.down(5))
        .probe(mod.__name__)
        .check("recursion", validators.recursion_depth_limit(20))
        .repeat(4)
        .build()
    )
    report = ck.run(scenario)
    assert report.passed
    assert report.max_depths[f"{mod.__name__}:down"] == 6


def test_scenario_without_probe_sees_no_depths(make_module):
    mod = make_module(SOURCE)
    scenario = (
        ck.scenario("unprobed")
        .step("walk", lambda _target: mod.down(50))
        .check("recursion", validators.recursion_depth_limit(20))
        .repeat(2)
        .build()
    )
    assert ck.run(scenario).passed


def test_probe_sees_recovered_injected_panics(make_module):
    """panic_recovery counts panics the probe saw handled, without record_panic()."""
    mod = make_module(
        """
        import chaoskit as ck

        def guarded():
            try:
                ck.maybe_panic()
            except ck.ChaosPanic:
                return "recovered"
            return "ok"
        """
    )
    recovery = validators.panic_recovery()
    scenario = (
        ck.scenario("recover")
        .step("guarded", lambda _target: mod.guarded())
        .inject("panic", ck.injectors.panic_probability(1.0))
        .probe(mod.__name__)
        .check("recovery", recovery)
        .repeat(3)
        .build()
    )
    previous = sys.gettrace()
    sys.settrace(None)  # on 3.11 under coverage the probe would fall back to setprofile
    try:
        report = ck.run(scenario)
    finally:
        sys.settrace(previous)
    assert report.passed
    assert recovery.recovered == 3


@pytest.mark.parametrize("bad", ["", "pkg..mod", "9lives", "a.b:", "a b", "mod:Cls.", 42])
def test_bad_scope_in_scenario_is_a_config_error(bad):
    with pytest.raises(ck.ConfigError):
        probe(bad)


def test_depth_events_are_attributed_to_their_iteration_with_several_workers(make_module, tmp_path):
    """Two workers run iterations at once; each event carries its own iteration."""
    mod = make_module(SOURCE)

    def step(_target):
        ctx = ck.context.current()
        assert ctx is not None
        mod.down(10 + ctx.iteration)  # iteration i recurses to depth 11 + i

    scenario = (
        ck.scenario("workers").step("walk", step).probe(mod.__name__).repeat(12).workers(2).build()
    )
    log = tmp_path / "events.jsonl"
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE, events_path=log).run(scenario)
    assert report.passed
    deepest: dict[int | None, int] = {}
    for event in read_events(log):
        if isinstance(event, RecursionDepth):
            deepest[event.iteration] = max(deepest.get(event.iteration, 0), event.depth)
    assert deepest == {i: 11 + i for i in range(12)}


def test_a_panic_recorded_and_seen_by_the_probe_counts_once(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """record_panic and the probe both report the same recovered ChaosPanic: one recovery."""
    import sys

    import chaoskit as ck
    from chaoskit import injectors, validators

    mod = tmp_path / "ck_double_count_mod.py"
    mod.write_text(
        "import chaoskit as ck\n"
        "def guarded():\n"
        "    try:\n"
        "        ck.maybe_panic()\n"
        "    except ck.ChaosPanic as exc:\n"
        "        ck.record_panic(exc)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import ck_double_count_mod

    recovery = validators.panic_recovery()
    ck.run(
        ck.scenario("double")
        .step("s", lambda t: ck_double_count_mod.guarded())
        .inject("p", injectors.panic_probability(1.0))
        .check("recovered", recovery)
        .probe("ck_double_count_mod")
        .repeat(3)
        .build()
    )
    sys.modules.pop("ck_double_count_mod", None)
    assert recovery.injected == 3
    assert recovery.recovered == 3
