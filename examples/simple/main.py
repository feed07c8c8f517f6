"""The smallest useful scenario: a flaky cache under delays and panics.

python examples/simple/main.py
"""

from __future__ import annotations

import chaoskit as ck
from chaoskit import injectors, validators


class Cache:
    """A toy cache whose lookups go to a slow backend on a miss."""

    name = "cache"

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.hits = self.misses = 0

    def get(self, key: str) -> str:
        if key in self.data:
            self.hits += 1
            return self.data[key]
        self.misses += 1
        ck.maybe_delay()  # the backend may be slow...
        ck.maybe_panic()  # ...or blow up
        self.data[key] = value = key.upper()
        return value


def lookup(cache: Cache) -> None:
    for key in ("a", "b", "c"):
        try:
            assert cache.get(key) == key.upper()
        except ck.ChaosPanic as exc:
            ck.record_panic(exc)  # the caller recovers: falls back to no cache
            cache.data.pop(key, None)


def main() -> int:
    scenario = (
        ck.scenario("simple-cache")
        .target(Cache())
        .step("lookup", lookup)
        .step("evict", lambda c: c.data.clear())
        .inject("delay", injectors.random_delay("1ms", "3ms"))
        .inject("panic", injectors.panic_probability(0.1))
        .check("recovered", validators.panic_recovery())
        .check("fast", validators.slow_iteration("200ms"))
        .repeat(50)
        .seed(2024)
        .build()
    )
    report = ck.Executor(progress=False).run(scenario)
    print(report.to_text())
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
