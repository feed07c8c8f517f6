"""Text report: verdict first, then statistics, violations, top errors and what to do next."""

from __future__ import annotations

from chaoskit.report.model import Report
from chaoskit.report.verdict import bare_message
from chaoskit.thresholds import Verdict

__all__ = ["TextReport"]

_RULE = "=" * 72


def _dur(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m{secs:04.1f}s"


def _oneline(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _span(first: int | None, last: int | None) -> str:
    if first is None:
        return "end of run"
    if last is None or last == first:
        return f"iteration {first}"
    return f"iterations {first}..{last}"


class TextReport:
    """Renders a :class:`Report` for a terminal: the verdict is the first line."""

    def __init__(self, report: Report, *, max_failures: int = 10) -> None:
        self.report = report
        self.max_failures = max_failures

    def render(self) -> str:
        r = self.report
        ev = r.evaluate()
        lines = [f"chaoskit: {_oneline(r.scenario) or '(unnamed)'}  {ev.verdict}", _RULE]
        lines.append(f"Verdict: {ev.verdict}  (thresholds: {r.thresholds.name})")
        lines += [f"  - {reason}" for reason in ev.reasons]
        lines += self._stats()
        lines += self._violations()
        lines += self._top_errors()
        lines += self._activity()
        lines += self._failures()
        lines += self._next_steps(ev.verdict)
        return "\n".join(lines) + "\n"

    def _stats(self) -> list[str]:
        r = self.report
        t = r.thresholds
        limit = f"  (minimum {t.min_success_rate:.2%}"
        if t.max_failed_iterations is not None:
            limit += f", at most {t.max_failed_iterations} failed"
        limit += ")"
        lines = [
            "",
            "Statistics",
            f"  seed            {r.seed}",
            f"  iterations      {r.iterations}  ({r.successes} ok, {r.failed_iterations} failed)",
            f"  success rate    {r.success_rate:.2%}{limit}",
            f"  duration        {_dur(r.duration)}  ({r.workers} worker(s))",
        ]
        if r.durations.count:
            d = r.durations
            lines.append(
                f"  iteration time  p50 {_dur(d.p50)}  p95 {_dur(d.p95)}  "
                f"p99 {_dur(d.p99)}  max {_dur(d.max)}"
            )
        if r.peak_threads is not None or r.peak_rss is not None:
            parts = []
            if r.peak_threads is not None:
                parts.append(f"{r.peak_threads} threads")
            if r.peak_rss is not None:
                parts.append(f"{r.peak_rss / 1_048_576:.1f} MiB RSS")
            lines.append(f"  peak            {', '.join(parts)}")
        if r.interrupted:
            lines.append(f"  interrupted     {r.interrupt_reason or 'yes'}")
        return lines

    def _violations(self) -> list[str]:
        r = self.report
        if not r.verdicts:
            return []
        lines = ["", "Validators"]
        violated = r.violations()
        if not violated:
            lines.append(f"  all {len(r.verdicts)} passed: {', '.join(r.verdicts)}")
            return lines
        width = max(len(v.name) for v in violated)
        for severity in ("critical", "warning", "info"):
            group = [v for v in violated if v.severity == severity]
            if not group:
                continue
            lines.append(f"  {severity.upper()}")
            for v in group:
                lines.append(
                    f"    {v.name:<{width}}  {v.violations}x  "
                    f"{_span(v.first_iteration, v.last_iteration)}: {v.message}"
                )
        passed = [name for name, v in r.verdicts.items() if v.passed]
        if passed:
            lines.append(f"  passed: {', '.join(passed)}")
        return lines

    def _top_errors(self) -> list[str]:
        patterns = self.report.top_errors(5)
        if not patterns:
            return []
        lines = ["", "Top errors"]
        for p in patterns:
            kind = f"{p.error_type}: " if p.error_type else ""
            lines.append(f"  {p.count:>5}x  {kind}{p.pattern}")
            lines.append(
                f"          {_span(p.first_iteration, p.last_iteration)}; in {', '.join(p.steps)}"
            )
        return lines

    def _activity(self) -> list[str]:
        r = self.report
        lines: list[str] = []
        if r.injections:
            lines += ["", "Injected faults"]
            for name, actions in sorted(r.injections.items()):
                parts = ", ".join(f"{a} x{n}" for a, n in sorted(actions.items()))
                lines.append(f"  {name}: {parts}")
        if r.failpoints:
            lines += ["", "Failpoints"]
            for name, c in sorted(r.failpoints.items()):
                lines.append(f"  {name}: {c.get('hits', 0)} hit(s), {c.get('fired', 0)} fired")
            if r.failpoints_never_registered:
                names = ", ".join(r.failpoints_never_registered)
                lines.append(f"  never registered by any code: {names}")
        if r.max_depths:
            lines += ["", "Max recursion depth"]
            for name, d in sorted(r.max_depths.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
                lines.append(f"  {d:>6}  {name}")
        if r.leaks:
            lines += ["", "Leaks"]
            for what, n in sorted(r.leaks.items()):
                lines.append(f"  {n} {what}")
        if r.loops:
            lines += ["", "Hangs"]
            for loop in r.loops:
                lines.append(
                    f"  iteration {loop['iteration']}: thread {loop['thread']} stuck "
                    f"{loop['elapsed']:.1f}s at {loop['location']}"
                )
        return lines

    def _failures(self) -> list[str]:
        r = self.report
        if not r.failures:
            return []
        shown = r.failures[: self.max_failures]
        lines = ["", f"Failed iterations (first {len(shown)} of {r.failed_iterations})"]
        for f in shown:
            where = f"step {f.step!r}" if f.step else "validators"
            kind = f"{f.error_type}: " if f.error_type and f.step else ""
            lines.append(f"  #{f.iteration} {where}: {kind}{bare_message(f.error, f.error_type)}")
        return lines

    def _next_steps(self, verdict: Verdict) -> list[str]:
        r = self.report
        steps: list[str] = []
        if r.interrupted:
            steps.append("The run was interrupted: run it again to completion for a verdict.")
        if r.iterations == 0 and not r.interrupted:
            steps.append("No iteration completed: check the target's setup() and the steps.")
        patterns = r.top_errors(1)
        if patterns:
            p = patterns[0]
            steps.append(
                f"Start with the most frequent error ({p.count}x, first in iteration "
                f"{p.first_iteration}): {p.examples[0] if p.examples else p.pattern}"
            )
        for v in r.violations():
            if v.severity == "info":
                continue
            steps.append(
                f"Validator {v.name!r} ({v.severity}) first failed in "
                f"{_span(v.first_iteration, None)}: inspect that iteration in the event log."
            )
            break
        if verdict is not Verdict.PASS or r.failures:
            steps.append(
                f"Replay this exact run with seed {r.seed}: "
                f"`.seed({r.seed})` or `chaoskit run ... --seed {r.seed}`."
            )
        if verdict is Verdict.UNSTABLE:
            steps.append("UNSTABLE exits 0; pass --unstable-fails to make warnings fail CI.")
        if verdict is Verdict.PASS:
            steps.append(
                "All thresholds met. To dig deeper, raise .repeat(), add injectors, "
                "or judge with ck.thresholds.STRICT."
            )
        lines = ["", "Next steps"]
        lines += [f"  {i}. {s}" for i, s in enumerate(steps, 1)]
        return lines
