"""A fixed event log for report tests: golden files do not depend on the executor."""

from __future__ import annotations

from chaoskit.events import (
    Event,
    FailpointFired,
    FailpointHit,
    InjectionApplied,
    IterationFinished,
    IterationStarted,
    RecursionDepth,
    ResourceSample,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ValidatorVerdict,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def make_events(
    *,
    iterations: int = 20,
    failing: dict[int, str] | None = None,
    warning_violation: bool = True,
    critical_violation: bool = False,
    scenario: str = "checkout-saga",
) -> list[Event]:
    """A 20-iteration run with delays, a failpoint, and chosen failures and violations."""
    failing = (
        {3: "timeout after 25 ms", 7: "timeout after 130 ms", 12: "connection reset by peer"}
        if failing is None
        else failing
    )
    severities = {"threads": "critical", "recursion": "critical", "slow": "warning"}
    evs: list[Event] = [
        RunStarted(
            ts=T0,
            scenario=scenario,
            seed=42,
            workers=1,
            repeat=iterations,
            injectors=("delay", "fp"),
            validators=tuple(severities),
            severities=severities,
            chaoskit_version="0.1.0",
        )
    ]
    t = T0 + 0.01
    for i in range(iterations):
        dur = 0.010 + (i % 5) * 0.004 + (0.05 if i in failing else 0.0)
        evs.append(IterationStarted(ts=t, iteration=i))
        evs.append(StepStarted(ts=t, iteration=i, step="pay"))
        if i % 2 == 0:
            evs.append(
                InjectionApplied(ts=t, iteration=i, injector="delay", action="delay", value=0.005)
            )
        evs.append(FailpointHit(ts=t, iteration=i, name="db.save"))
        if i in failing:
            evs.append(
                FailpointFired(
                    ts=t, iteration=i, name="db.save", term="raise(TimeoutError)", action="raise"
                )
            )
        evs.append(RecursionDepth(ts=t, iteration=i, function="saga:rollback", depth=3 + i % 4))
        ok = i not in failing
        evs.append(
            StepFinished(
                ts=t + dur,
                iteration=i,
                step="pay",
                duration=dur,
                ok=ok,
                error=None if ok else failing[i],
                error_type=None if ok else "TimeoutError",
            )
        )
        if warning_violation and i in (5, 9):
            evs.append(
                ValidatorVerdict(
                    ts=t + dur,
                    iteration=i,
                    validator="slow",
                    passed=False,
                    message=f"iteration took {dur * 1000:.0f} ms > 20 ms",
                    severity="warning",
                )
            )
        if critical_violation and i == 15:
            evs.append(
                ValidatorVerdict(
                    ts=t + dur,
                    iteration=i,
                    validator="threads",
                    passed=False,
                    message="251 threads > limit 200",
                    severity="critical",
                )
            )
        evs.append(ResourceSample(ts=t + dur, iteration=i, rss=50_000_000 + i * 1000, threads=4))
        evs.append(
            IterationFinished(
                ts=t + dur,
                iteration=i,
                duration=dur,
                ok=ok,
                step=None if ok else "pay",
                error=None if ok else failing[i],
                error_type=None if ok else "TimeoutError",
            )
        )
        t += dur + 0.002
    for name in severities:
        evs.append(ValidatorVerdict(ts=t, validator=name, passed=True, final=True))
    evs.append(RunFinished(ts=t, scenario=scenario, duration=t - T0))
    return evs
