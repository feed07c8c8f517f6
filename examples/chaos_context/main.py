"""Context-based chaos: hooks in sync and async code, no context argument passed around.

    python examples/chaos_context/main.py

The service calls ``ck.maybe_*`` at its fault points. Outside a scenario these are no-ops
(the last lines show the same code running untouched); inside one, the scenario's
injectors decide, per iteration, from the run's seed.
"""

from __future__ import annotations

import asyncio

import chaoskit as ck
from chaoskit import injectors, validators


class Inventory:
    def __init__(self) -> None:
        self.items = {"apple": 10, "pear": 5}
        self.errors_handled = 0

    def reserve(self, item: str) -> bool:
        ck.maybe_delay()
        try:
            ck.maybe_error()  # a transient backend error
        except ck.ChaosError:
            self.errors_handled += 1
            return False
        if self.items.get(item, 0) <= 0:
            return False
        self.items[item] -= 1
        return True

    def release(self, item: str) -> None:
        self.items[item] += 1

    async def fetch_price(self, item: str) -> float:
        await ck.maybe_delay_async()  # awaits: the loop keeps serving other tasks
        await ck.maybe_panic_async()
        return {"apple": 0.5, "pear": 0.7}[item]


async def checkout(inv: Inventory) -> None:
    if not inv.reserve("apple"):
        return
    try:
        # A TaskGroup cancels the sibling when one fetch panics. With asyncio.gather the
        # sibling would keep running after the iteration: no_task_leak catches that.
        async with asyncio.TaskGroup() as tg:
            apple = tg.create_task(inv.fetch_price("apple"))
            pear = tg.create_task(inv.fetch_price("pear"))
        assert apple.result() + pear.result() > 0
    except* ck.ChaosPanic as group:
        for exc in group.exceptions:
            ck.record_panic(exc)
    finally:
        inv.release("apple")


def main() -> int:
    inv = Inventory()
    scenario = (
        ck.scenario("chaos-context")
        .target(inv)
        .step("checkout", checkout)
        .inject("delay", injectors.random_delay("1ms", "5ms"))
        .inject("errors", injectors.error_probability(0.1))
        .inject("panic", injectors.panic_probability(0.1))
        .check("recovered", validators.panic_recovery())
        .check(
            "stock",
            validators.state_consistency(
                lambda i: i.items["apple"] == 10 or f"apple stock is {i.items['apple']}"
            ),
        )
        .check("tasks", validators.no_task_leak())
        .repeat(40)
        .seed(7)
        .build()
    )
    report = ck.Executor(progress=False).run(scenario)
    print(report.to_text())
    print(f"backend errors handled: {inv.errors_handled}")
    # outside a scenario the hooks do nothing:
    asyncio.run(checkout(inv))
    print("outside a scenario: stock", inv.items)
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
