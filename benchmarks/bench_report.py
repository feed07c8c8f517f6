"""Reporting costs, measured side by side in one run (median of N repeats).

    .venv/bin/python benchmarks/bench_report.py

Per-event costs of the subscribers that fold a run's events (the report builder, the
Prometheus exporter, the OpenTelemetry tracer with the SDK and an in-memory exporter),
as ratios to a subscriber that does nothing; then render times per report format for a
2 000-iteration report (text is the baseline).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "report"))

from report_events import make_events

from chaoskit.events import Event, EventBus
from chaoskit.report.model import Report, ReportBuilder

REPEATS = 7
ITERATIONS = 2000


def median_time(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def publish_all(events: list[Event], attach: Callable[[EventBus], object]) -> Callable[[], None]:
    def run() -> None:
        bus = EventBus()
        attach(bus)
        for ev in events:
            bus.publish(ev)

    return run


def main() -> None:
    events = make_events(iterations=ITERATIONS, failing={i: f"timeout after {i} ms"
                                                         for i in range(0, ITERATIONS, 37)})  # fmt: skip
    n = len(events)
    print(f"{n} events ({ITERATIONS} iterations), median of {REPEATS} repeats\n")

    def noop(bus: EventBus) -> None:
        bus.subscribe(lambda ev: None)

    def builder(bus: EventBus) -> None:
        ReportBuilder().attach(bus)

    cases: list[tuple[str, Callable[[EventBus], object]]] = [
        ("no-op subscriber", noop),
        ("ReportBuilder", builder),
    ]
    try:
        from chaoskit.report.prometheus import PrometheusExporter

        cases.append(("PrometheusExporter", lambda bus: PrometheusExporter().attach(bus)))
    except ImportError:
        print("prometheus-client not installed: skipped")
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from chaoskit.report.otel import OtelTracer

        def otel(bus: EventBus) -> None:
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
            OtelTracer(provider).attach(bus)

        cases.append(("OtelTracer (SDK, in-memory)", otel))
    except ImportError:
        print("opentelemetry-sdk not installed: skipped")

    base = None
    print(f"{'subscriber':<30} {'us/event':>10} {'x no-op':>9}")
    for name, attach in cases:
        t = median_time(publish_all(events, attach))
        base = base or t
        print(f"{name:<30} {t / n * 1e6:>10.2f} {t / base:>9.1f}")

    report = Report.from_events(events)
    print(f"\nrendering a {report.iterations}-iteration report ({len(report.failures)} failures)")
    print(f"{'format':<10} {'ms':>9} {'x text':>8} {'bytes':>10}")
    text_t = None
    for fmt, render in (
        ("text", report.to_text),
        ("json", report.to_json),
        ("junit", report.to_junit_xml),
        ("html", report.to_html),
    ):
        t = median_time(render)
        text_t = text_t or t
        print(f"{fmt:<10} {t * 1000:>9.2f} {t / text_t:>8.1f} {len(render()):>10}")
    t_fold = median_time(lambda: Report.from_events(events))
    print(f"\nReport.from_events: {t_fold * 1000:.1f} ms for {n} events")


if __name__ == "__main__":
    main()
