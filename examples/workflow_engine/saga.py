"""A small saga orchestrator: the system under test of the flagship example.

A workflow is a list of steps, each with an action and a compensation. When an action
fails, the orchestrator rolls back by compensating the completed steps, newest first. A
compensation can fail too (it talks to the same flaky services), so the rollback retries
it by recursing, with a bound. That recursion is what chaoskit watches: an unbounded retry
would be an infinite rollback loop, the classic saga bug.

The only chaoskit calls are the context hooks (no-ops outside a scenario).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import chaoskit as ck


class StepFailed(Exception):
    """An action of the workflow failed; the saga must roll back."""


class CompensationFailed(Exception):
    """A compensation kept failing after every retry: manual repair needed."""


@dataclass
class Step:
    name: str
    action: Callable[[dict[str, int]], None]
    compensate: Callable[[dict[str, int]], None]


@dataclass
class Ledger:
    """The shared state the saga must keep consistent."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stock: int = 1_000_000
    reserved: int = 0
    charged: int = 0
    shipped: int = 0
    completed: int = 0
    rolled_back: int = 0

    def consistent(self) -> bool:
        with self.lock:
            return self.reserved == self.charged == self.shipped == self.completed


def _service_call() -> None:
    """Every remote call may be slow, may fail, may panic."""
    ck.maybe_delay()
    ck.maybe_error()
    ck.maybe_panic()


class SagaEngine:
    """Runs workflows; compensates on failure; bounds compensation retries."""

    name = "saga-engine"

    def __init__(self, max_compensation_retries: int = 25) -> None:
        self.ledger = Ledger()
        self.max_retries = max_compensation_retries
        self._notifier: threading.Thread | None = None
        self._outbox: list[str] = []
        self._outbox_lock = threading.Lock()

    # -- lifecycle hooks the executor calls -------------------------------------------
    def setup(self) -> None:
        self.ledger = Ledger()

    def teardown(self) -> None:
        if self._notifier is not None:
            self._notifier.join(timeout=5)

    # -- the workflow -------------------------------------------------------------------
    def order_workflow(self) -> list[Step]:
        led = self.ledger

        def reserve(state: dict[str, int]) -> None:
            _service_call()
            with led.lock:
                led.stock -= 1
                led.reserved += 1

        def unreserve(state: dict[str, int]) -> None:
            _service_call()
            with led.lock:
                led.stock += 1
                led.reserved -= 1

        def charge(state: dict[str, int]) -> None:
            _service_call()
            with led.lock:
                led.charged += 1

        def refund(state: dict[str, int]) -> None:
            _service_call()
            with led.lock:
                led.charged -= 1

        def ship(state: dict[str, int]) -> None:
            _service_call()
            with led.lock:
                led.shipped += 1

        def unship(state: dict[str, int]) -> None:
            _service_call()
            with led.lock:
                led.shipped -= 1

        return [
            Step("reserve-inventory", reserve, unreserve),
            Step("charge-payment", charge, refund),
            Step("ship-order", ship, unship),
        ]

    def execute(self) -> bool:
        """Run one order; True if it completed, False if it was rolled back."""
        steps = self.order_workflow()
        state: dict[str, int] = {}
        done: list[Step] = []
        for step in steps:
            try:
                step.action(state)
            except (ck.ChaosPanic, ck.ChaosError, StepFailed) as exc:
                ck.record_panic(exc)  # recovered: the saga handles it by rolling back
                self.rollback(done, state)
                with self.ledger.lock:
                    self.ledger.rolled_back += 1
                return False
            done.append(step)
        with self.ledger.lock:
            self.ledger.completed += 1
        self._notify("order completed")
        return True

    def rollback(self, done: list[Step], state: dict[str, int]) -> None:
        """Compensate completed steps, newest first."""
        for step in reversed(done):
            self._compensate(step, state, attempt=1)

    def _compensate(self, step: Step, state: dict[str, int], attempt: int) -> None:
        try:
            step.compensate(state)
        except (ck.ChaosPanic, ck.ChaosError) as exc:
            ck.record_panic(exc)
            if attempt >= self.max_retries:
                raise CompensationFailed(f"{step.name}: gave up after {attempt} attempts") from exc
            self._compensate(step, state, attempt + 1)  # retry by recursion

    def _notify(self, message: str) -> None:
        """Notifications go through a short-lived worker thread that is always joined."""

        def send() -> None:
            with self._outbox_lock:
                self._outbox.append(message)

        t = threading.Thread(target=send, name="saga-notifier")
        t.start()
        t.join()
