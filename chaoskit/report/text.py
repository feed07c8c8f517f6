"""Text report: what a person reads at a glance on a terminal."""

from __future__ import annotations

from chaoskit.report.model import Report

__all__ = ["TextReport"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


class TextReport:
    """Renders a :class:`Report` as a plain-text table."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def render(self) -> str:
        r = self.report
        status = "PASSED" if r.passed else ("INTERRUPTED" if r.interrupted else "FAILED")
        lines = [
            f"chaoskit report: {r.scenario}  [{status}]",
            "=" * 64,
            f"  seed            {r.seed}",
            f"  iterations      {r.iterations}  ({r.successes} ok, {r.failed_iterations} failed)",
            f"  success rate    {r.success_rate:.2%}",
            f"  duration        {_ms(r.duration)}  ({r.workers} worker(s))",
            f"  iteration time  p50 {_ms(r.durations.p50)}  p95 {_ms(r.durations.p95)}  "
            f"p99 {_ms(r.durations.p99)}  max {_ms(r.durations.max)}",
        ]
        if r.interrupted:
            lines.append(f"  interrupted     {r.interrupt_reason or 'yes'}")
        if r.verdicts:
            lines += ["", "Validators"]
            width = max(len(n) for n in r.verdicts)
            for name, v in r.verdicts.items():
                mark = "PASS" if v.passed else "FAIL"
                extra = (
                    f"  {v.violations} violation(s), iterations {v.first_iteration}..{v.last_iteration}: {v.message}"
                    if not v.passed
                    else ""
                )
                lines.append(f"  {mark}  {name:<{width}}  [{v.severity}]{extra}")
        if r.injections:
            lines += ["", "Injections"]
            for name, actions in r.injections.items():
                parts = ", ".join(f"{a} x{n}" for a, n in sorted(actions.items()))
                lines.append(f"  {name}: {parts}")
        if r.failpoints:
            lines += ["", "Failpoints"]
            for name, c in sorted(r.failpoints.items()):
                lines.append(f"  {name}: {c.get('hits', 0)} hit(s), {c.get('fired', 0)} fired")
        if r.max_depths:
            lines += ["", "Max recursion depth"]
            for name, d in sorted(r.max_depths.items(), key=lambda kv: -kv[1])[:10]:
                lines.append(f"  {d:>6}  {name}")
        if r.loops:
            lines += ["", "Hangs"]
            for loop in r.loops:
                lines.append(
                    f"  iteration {loop['iteration']}: thread {loop['thread']} stuck "
                    f"{loop['elapsed']:.1f}s at {loop['location']}"
                )
        if r.failures:
            lines += ["", f"Failures (first {min(10, len(r.failures))} of {len(r.failures)})"]
            for f in r.failures[:10]:
                where = f"step {f.step!r}" if f.step else "validators"
                lines.append(f"  #{f.iteration} {where}: {f.error}")
        return "\n".join(lines) + "\n"
