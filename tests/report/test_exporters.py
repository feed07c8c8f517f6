"""Prometheus metrics over real HTTP, and OpenTelemetry spans in the SDK's memory exporter."""

from __future__ import annotations

import urllib.request

import pytest
from report_events import make_events

import chaoskit as ck
from chaoskit.errors import ConfigError
from chaoskit.events import EventBus


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()) and head.split("{")[0] == name:
            return float(value)
    raise AssertionError(f"{name} {labels} not in metrics:\n{text}")


def test_prometheus_exporter_serves_run_metrics_on_http() -> None:
    from chaoskit.report.prometheus import PrometheusExporter

    bus = EventBus()
    with PrometheusExporter(port=0) as exp:
        url = exp.url
        assert url is not None and url.startswith("http://127.0.0.1:")
        exp.attach(bus)
        for ev in make_events(critical_violation=True):
            bus.publish(ev)
        body = urllib.request.urlopen(url, timeout=10).read().decode()
    s = "checkout-saga"
    assert _metric(body, "chaoskit_iterations_total", scenario=s) == 20
    assert _metric(body, "chaoskit_iteration_failures_total", scenario=s,
                   error_type="TimeoutError") == 3  # fmt: skip
    assert _metric(body, "chaoskit_injections_total", injector="delay", action="delay") == 10
    assert _metric(body, "chaoskit_failpoint_fired_total", failpoint="db.save") == 3
    assert _metric(body, "chaoskit_validator_violations_total", validator="threads",
                   severity="critical") == 1  # fmt: skip
    assert _metric(body, "chaoskit_success_rate", scenario=s) == pytest.approx(0.85)
    assert _metric(body, "chaoskit_iteration_duration_seconds_count", scenario=s) == 20
    assert _metric(body, "chaoskit_iteration_duration_seconds_bucket", le="0.025") == 13
    assert _metric(body, "chaoskit_run_active", scenario=s) == 0
    assert exp.url is None
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)  # stopped: nothing listens any more


def test_prometheus_exporter_as_executor_subscriber() -> None:
    from chaoskit.report.prometheus import PrometheusExporter

    counter = {"n": 0}

    def step(_: object) -> None:
        counter["n"] += 1
        if counter["n"] % 4 == 0:
            raise ValueError("every fourth")

    exp = PrometheusExporter()
    s = ck.scenario("prom").step("s", step).repeat(12).seed(1).build()
    report = ck.Executor(ck.CONTINUE_ON_FAILURE, subscribers=[exp], progress=False).run(s)
    assert report.failed_iterations == 3
    value = exp.registry.get_sample_value
    assert value("chaoskit_iterations_total", {"scenario": "prom"}) == 12
    assert value("chaoskit_iteration_failures_total",
                 {"scenario": "prom", "error_type": "ValueError"}) == 3  # fmt: skip
    assert value("chaoskit_success_rate", {"scenario": "prom"}) == pytest.approx(0.75)


def test_prometheus_bad_port_is_a_config_error() -> None:
    from chaoskit.report.prometheus import PrometheusExporter

    with pytest.raises(ConfigError, match="port"):
        PrometheusExporter(port=70000)


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_otel_tracer_makes_run_iteration_and_step_spans_with_fault_events(spans) -> None:
    from opentelemetry.trace import StatusCode

    from chaoskit.report.otel import OtelTracer

    provider, exporter = spans
    OtelTracer(provider).replay(make_events())
    finished = exporter.get_finished_spans()
    by_name: dict[str, list] = {}
    for sp in finished:
        by_name.setdefault(sp.name, []).append(sp)
    assert len(by_name["chaoskit.run"]) == 1
    assert len(by_name["chaoskit.iteration"]) == 20
    assert len(by_name["chaoskit.step pay"]) == 20
    run = by_name["chaoskit.run"][0]
    assert run.attributes["chaoskit.seed"] == 42
    for it in by_name["chaoskit.iteration"]:
        assert it.parent.span_id == run.context.span_id
        assert it.context.trace_id == run.context.trace_id
    failed = [s for s in by_name["chaoskit.iteration"] if s.status.status_code == StatusCode.ERROR]
    assert sorted(s.attributes["chaoskit.iteration"] for s in failed) == [3, 7, 12]
    step3 = next(s for s in by_name["chaoskit.step pay"] if s.attributes["chaoskit.iteration"] == 3)
    names = [e.name for e in step3.events]
    assert "chaoskit.failpoint" in names
    step4 = next(s for s in by_name["chaoskit.step pay"] if s.attributes["chaoskit.iteration"] == 4)
    assert [e.name for e in step4.events] == ["chaoskit.injection"]
    assert step4.events[0].attributes["chaoskit.injector"] == "delay"
    it5 = next(s for s in by_name["chaoskit.iteration"] if s.attributes["chaoskit.iteration"] == 5)
    assert any(e.name == "chaoskit.violation" for e in it5.events)


def test_otel_tracer_as_executor_subscriber(spans) -> None:
    from chaoskit.report.otel import OtelTracer

    provider, exporter = spans
    s = (
        ck.scenario("traced")
        .step("a", lambda _: None)
        .step("b", lambda _: None)
        .inject("delay", ck.injectors.random_delay(0.0001, 0.0002))
        .repeat(5)
        .seed(3)
        .build()
    )
    ck.Executor(subscribers=[OtelTracer(provider)], progress=False).run(s)
    names = [sp.name for sp in exporter.get_finished_spans()]
    assert names.count("chaoskit.run") == 1
    assert names.count("chaoskit.iteration") == 5
    assert names.count("chaoskit.step a") == 5 and names.count("chaoskit.step b") == 5
    assert all(sp.end_time >= sp.start_time for sp in exporter.get_finished_spans())
