"""Continuous testing: run for a duration with live statistics.

    python examples/continuous/main.py [seconds]

Prints a statistics line every second (iterations, rate, failures) from the event stream,
then the report.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import chaoskit as ck
from chaoskit import injectors, validators
from chaoskit.events import Event, EventBus, IterationFinished


class LiveStats:
    """A subscriber printing running statistics once per second."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self.done = self.failed = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._unsub: Any = None
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def on_event(self, ev: Event) -> None:
        assert isinstance(ev, IterationFinished)
        with self._lock:
            self.done += 1
            self.failed += 0 if ev.ok else 1

    def attach(self, bus: EventBus) -> None:
        self._unsub = bus.subscribe(self.on_event, (IterationFinished,))
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="chaoskit-livestats", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.print_line()

    def print_line(self) -> None:
        with self._lock:
            done, failed = self.done, self.failed
        elapsed = time.monotonic() - self._t0
        rate = done / elapsed if elapsed else 0.0
        ok = (done - failed) / done if done else 1.0
        print(
            f"[{elapsed:5.1f}s] {done} iterations  {rate:,.0f}/s  success {ok:.1%}  failures {failed}",
            flush=True,
        )

    def detach(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._unsub()


def handle_request(state: dict[str, int]) -> None:
    ck.maybe_delay()
    try:
        ck.maybe_error()
    except ck.ChaosError:
        state["retries"] = state.get("retries", 0) + 1
        ck.maybe_error()  # one retry; a second failure fails the iteration
    state["served"] = state.get("served", 0) + 1


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    state: dict[str, int] = {}
    scenario = (
        ck.scenario("continuous-service")
        .target(state)
        .step("request", handle_request)
        .inject("latency", injectors.random_delay("0.1ms", "0.5ms", probability=0.2))
        .inject("errors", injectors.error_probability(0.05))
        .check("threads", validators.thread_limit(20))
        .check("memory", validators.memory_limit("1GB"))
        .run_for(seconds)
        .workers(2)
        .build()
    )
    report = ck.Executor(ck.CONTINUE_ON_FAILURE, subscribers=[LiveStats()], progress=False).run(
        scenario
    )
    print(report.to_text())
    print(f"served {state.get('served', 0)} requests, {state.get('retries', 0)} retried")
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
