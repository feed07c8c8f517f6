"""Prometheus metrics for chaos runs (``pip install chaoskit[prometheus]``).

:class:`PrometheusExporter` is an executor subscriber (``ck.Executor(subscribers=[exp])``)
that turns the event stream into metrics, and optionally serves them on ``/metrics`` for
continuous (``run_for``) runs::

    with PrometheusExporter(port=9464) as exp:          # serves http://127.0.0.1:9464/metrics
        ck.Executor(subscribers=[exp]).run(scenario)

Metrics (prefix ``chaoskit_``, label ``scenario`` on all):
``iterations_total``, ``iteration_failures_total{error_type}``,
``injections_total{injector,action}``, ``failpoint_fired_total{failpoint}``,
``validator_violations_total{validator,severity}``, ``success_rate`` (gauge),
``iteration_duration_seconds`` (histogram), ``run_active`` (gauge).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chaoskit.errors import ConfigError
from chaoskit.events import (
    Event,
    EventBus,
    FailpointFired,
    InjectionApplied,
    IterationFinished,
    RunFinished,
    RunStarted,
    ValidatorVerdict,
)

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "chaoskit's Prometheus exporter needs prometheus-client: pip install 'chaoskit[prometheus]'"
    ) from exc

__all__ = ["DURATION_BUCKETS", "PrometheusExporter"]

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusExporter:
    """Counts a run's events into Prometheus metrics; ``port`` serves ``/metrics``.

    ``registry`` defaults to a private :class:`CollectorRegistry` (pass
    ``prometheus_client.REGISTRY`` to join the process-wide one). ``port=0`` picks a free
    port (see :attr:`port` once started). Binds ``addr`` (127.0.0.1 unless you say so).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        addr: str = "127.0.0.1",
        registry: Any = None,
        namespace: str = "chaoskit",
        buckets: tuple[float, ...] = DURATION_BUCKETS,
    ) -> None:
        if port is not None and (isinstance(port, bool) or not 0 <= int(port) <= 65535):
            raise ConfigError(f"port must be 0..65535, got {port!r}")
        self.registry = registry if registry is not None else CollectorRegistry()
        self.addr = addr
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._scenario = ""
        self._counts: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        ns, reg = namespace, self.registry
        self.iterations = Counter("iterations", "Finished iterations", ["scenario"],
                                  namespace=ns, registry=reg)  # fmt: skip
        self.failures = Counter(
            "iteration_failures", "Failed iterations", ["scenario", "error_type"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.injections = Counter(
            "injections", "Faults injected", ["scenario", "injector", "action"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.failpoints = Counter(
            "failpoint_fired", "Failpoint firings", ["scenario", "failpoint"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.violations = Counter(
            "validator_violations", "Validator violations", ["scenario", "validator", "severity"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.success_rate = Gauge("success_rate", "Share of iterations that succeeded",
                                  ["scenario"], namespace=ns, registry=reg)  # fmt: skip
        self.active = Gauge("run_active", "1 while a run is in progress", ["scenario"],
                            namespace=ns, registry=reg)  # fmt: skip
        self.durations = Histogram(
            "iteration_duration_seconds", "Iteration duration", ["scenario"],
            namespace=ns, registry=reg, buckets=buckets,
        )  # fmt: skip

    # --- serving ----------------------------------------------------------------------

    def start(self) -> PrometheusExporter:
        """Serve ``/metrics`` on ``addr:port`` in a daemon thread (no-op without a port)."""
        if self.port is None or self._server is not None:
            return self
        try:
            self._server, self._thread = start_http_server(
                self.port, addr=self.addr, registry=self.registry
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {self.addr}:{self.port}: {exc.strerror}"
            ) from None
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        """Stop serving and detach from the bus."""
        self.detach()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def url(self) -> str | None:
        return None if self._server is None else f"http://{self.addr}:{self.port}/metrics"

    def __enter__(self) -> PrometheusExporter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the subscriber protocol ------------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        self.start()
        self._unsubscribe = bus.subscribe(
            self.on_event,
            (RunStarted, RunFinished, IterationFinished, InjectionApplied, FailpointFired,
             ValidatorVerdict),
        )  # fmt: skip

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def on_event(self, ev: Event) -> None:
        s = self._scenario
        if isinstance(ev, IterationFinished):
            self.iterations.labels(s).inc()
            self.durations.labels(s).observe(ev.duration)
            with self._lock:
                counts = self._counts.setdefault(s, [0, 0])
                counts[0] += 1
                counts[1] += 1 if ev.ok else 0
                rate = counts[1] / counts[0]
            self.success_rate.labels(s).set(rate)
            if not ev.ok:
                kind = ev.error_type or ("validator" if ev.step is None else "error")
                self.failures.labels(s, kind).inc()
        elif isinstance(ev, InjectionApplied):
            self.injections.labels(s, ev.injector, ev.action).inc()
        elif isinstance(ev, FailpointFired):
            self.failpoints.labels(s, ev.name).inc()
        elif isinstance(ev, ValidatorVerdict):
            if not ev.passed:
                self.violations.labels(s, ev.validator, ev.severity).inc()
        elif isinstance(ev, RunStarted):
            self._scenario = ev.scenario
            self.active.labels(ev.scenario).set(1)
        elif isinstance(ev, RunFinished):
            self.active.labels(ev.scenario).set(0)
