"""HTML report: one self-contained file with charts of the run.

Everything is inline (CSS, the run's data as JSON, and a small script that draws the charts
as SVG), so the file opens from disk or a CI artifact with no network access. Charts:
iterations over time with failures marked, the duration distribution, violations by
validator, and failed iterations by injected fault.
"""

from __future__ import annotations

import json
import random
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from chaoskit.report.json import iso_time
from chaoskit.report.model import Report
from chaoskit.report.text import TextReport
from chaoskit.report.verdict import bare_message

__all__ = ["HtmlReport"]


@cache
def _asset(name: str) -> str:
    return resources.files("chaoskit.report").joinpath("assets", name).read_text("utf-8")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element."""
    text = json.dumps(data, separators=(",", ":"), default=repr)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class HtmlReport:
    """Renders a :class:`Report` as one HTML file; ``max_points`` bounds the timeline."""

    def __init__(self, report: Report, *, max_points: int = 4000, bins: int = 30) -> None:
        self.report = report
        self.max_points = max_points
        self.bins = bins

    # --- chart data -------------------------------------------------------------------

    def _points(self) -> list[list[float | int]]:
        log = self.report.iteration_log
        if not log:
            return []
        t0 = min(rec.started for rec in log)
        recs = list(log)
        if len(recs) > self.max_points:
            failed = [r for r in recs if not r.ok]
            ok = [r for r in recs if r.ok]
            keep = max(self.max_points - len(failed), 0)
            # a fixed-seed sample keeps the rendering deterministic
            sample = random.Random(0).sample(ok, min(keep, len(ok)))
            recs = sorted(failed[: self.max_points] + sample, key=lambda r: r.iteration)
        return [
            [round(r.started - t0, 4), round(r.duration * 1000, 3), 1 if r.ok else 0, r.iteration]
            for r in recs
        ]

    def _histogram(self) -> dict[str, list[float] | list[int]]:
        log = self.report.iteration_log
        if not log:
            return {"edges": [], "counts": [], "failed": []}
        values = [rec.duration * 1000 for rec in log]
        lo, hi = min(values), max(values)
        if hi <= lo:
            hi = lo + 1.0
        n = self.bins
        width = (hi - lo) / n
        counts = [0] * n
        failed = [0] * n
        for rec, v in zip(log, values, strict=True):
            idx = min(int((v - lo) / width), n - 1)
            counts[idx] += 1
            failed[idx] += 0 if rec.ok else 1
        edges = [round(lo + i * width, 3) for i in range(n + 1)]
        return {"edges": edges, "counts": counts, "failed": failed}

    def data(self) -> dict[str, Any]:
        r = self.report
        return {
            "iterations": self._points(),
            "histogram": self._histogram(),
            "validators": [
                {
                    "name": v.name,
                    "severity": v.severity,
                    "violations": v.violations,
                    "passed": v.passed,
                }
                for v in r.verdicts.values()
            ],
            "faults": [
                {"fault": fault, "failures": n}
                for fault, n in sorted(r.failures_by_fault.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }

    # --- page -------------------------------------------------------------------------

    def _stats(self) -> str:
        r = self.report
        d = r.durations
        cells = [
            ("verdict", str(r.verdict)),
            ("iterations", str(r.iterations)),
            ("failed", str(r.failed_iterations)),
            ("success rate", f"{r.success_rate:.2%}"),
            ("minimum", f"{r.thresholds.min_success_rate:.2%}"),
            ("seed", str(r.seed)),
            ("duration", _ms(r.duration)),
            ("workers", str(r.workers)),
            ("p50", _ms(d.p50)),
            ("p95", _ms(d.p95)),
            ("p99", _ms(d.p99)),
            ("max", _ms(d.max)),
        ]
        return "".join(
            f'<div class="stat"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div>'
            "</div>"
            for k, v in cells
        )

    def _validators_table(self) -> str:
        r = self.report
        if not r.verdicts:
            return "<p>No validators were configured.</p>"
        rows = []
        order = {"critical": 0, "warning": 1, "info": 2}
        for v in sorted(
            r.verdicts.values(), key=lambda v: (v.passed, order.get(v.severity, 3), v.name)
        ):
            status = '<span class="ok">pass</span>' if v.passed else '<span class="bad">FAIL</span>'
            span = ""
            if v.first_iteration is not None:
                span = f"{v.first_iteration}..{v.last_iteration}"
            rows.append(
                f"<tr><td>{escape(v.name)}</td><td class='sev {escape(v.severity)}'>"
                f"{escape(v.severity)}</td><td>{status}</td><td class='num'>{v.violations}</td>"
                f"<td>{escape(span)}</td><td>{escape(v.message)}</td></tr>"
            )
        return (
            "<table><thead><tr><th>validator</th><th>severity</th><th>result</th>"
            "<th>violations</th><th>iterations</th><th>message</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )

    def _errors_table(self) -> str:
        patterns = self.report.top_errors(5)
        if not patterns:
            return "<p>No failed iterations.</p>"
        rows = "".join(
            f"<tr><td class='num'>{p.count}</td><td><code>{escape(p.error_type or '')}</code></td>"
            f"<td><code>{escape(p.pattern)}</code></td><td>{p.first_iteration}..{p.last_iteration}"
            f"</td><td>{escape(', '.join(p.steps))}</td></tr>"
            for p in patterns
        )
        return (
            "<table><thead><tr><th>count</th><th>type</th><th>pattern</th><th>iterations</th>"
            "<th>where</th></tr></thead><tbody>" + rows + "</tbody></table>"
        )

    def _failures_table(self, limit: int = 50) -> str:
        fs = self.report.failures
        if not fs:
            return ""
        rows = "".join(
            f"<tr><td class='num'>{f.iteration}</td><td>{escape(f.step or 'validators')}</td>"
            f"<td><code>{escape(f.error_type or '')}</code></td>"
            f"<td>{escape(bare_message(f.error, f.error_type))}</td></tr>"
            for f in fs[:limit]
        )
        total = max(self.report.failed_iterations, len(fs))
        more = f"<p>... and {total - limit} more.</p>" if total > limit else ""
        return (
            f"<section><h2>Failed iterations (first {min(limit, len(fs))} of {total})</h2>"
            "<table><thead><tr><th>#</th><th>step</th><th>type</th><th>error</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{more}</section>"
        )

    def render(self) -> str:
        r = self.report
        ev = r.evaluate()
        verdict = ev.verdict.value
        reasons = "".join(f"<li>{escape(x)}</li>" for x in ev.reasons) or (
            "<li>All thresholds met.</li>"
        )
        started = iso_time(r.started_at) or "-"
        chart = (
            '<div class="card"><h2>{title}</h2><div class="chart" id="{id}" '
            'aria-label="{title}"></div></div>'
        )
        charts = "".join(
            chart.format(id=cid, title=escape(title))
            for cid, title in (
                ("chart-timeline", "Iterations over time (failures marked x)"),
                ("chart-durations", "Duration distribution"),
                ("chart-validators", "Violations by validator"),
                ("chart-faults", "Failed iterations by injected fault"),
            )
        )
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chaoskit {escape(r.chaoskit_version)}">
<title>chaoskit: {escape(r.scenario)} {verdict}</title>
<style>{_asset("report.css")}</style>
</head>
<body>
<header>
<h1>chaoskit: {escape(r.scenario or "(unnamed)")}</h1>
<span class="badge {verdict}" id="verdict">{verdict}</span>
<span class="meta">started {escape(started)} &middot; seed {r.seed} &middot;
thresholds {escape(r.thresholds.name)}</span>
</header>
<main>
<ul class="reasons {verdict}">{reasons}</ul>
<div id="chaoskit-errors"></div>
<div class="stats">{self._stats()}</div>
<div class="grid">{charts}</div>
<section><h2>Validators</h2>{self._validators_table()}</section>
<section><h2>Top errors</h2>{self._errors_table()}</section>
{self._failures_table()}
<section><h2>Text report</h2><pre><code>{escape(TextReport(r).render())}</code></pre></section>
</main>
<footer>Generated by chaoskit {escape(r.chaoskit_version)}. This file is self-contained.</footer>
<script type="application/json" id="chaoskit-data">{_script_json(self.data())}</script>
<script>{_asset("report.js")}</script>
</body>
</html>
"""
