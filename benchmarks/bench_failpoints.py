"""Failpoint overhead, measured side by side in one run.

    .venv/bin/python benchmarks/bench_failpoints.py [--repeats N] [--loops N]

Prints, as the median of N interleaved repeats:

- decorated-but-off: ``@failpoint`` function while its failpoint is off, against an
  undecorated twin with the same body (goal <= 1.05x: the original code object runs);
- inline inject off: ``failpoint.inject("name")`` for an inactive name, against a call of
  a no-op function with the same argument (goal <= 1.5x);
- for information: the armed cost (active failpoint whose term does not fire) and
  ``await failpoint.inject_async`` off against awaiting a no-op coroutine.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import timeit
from collections.abc import Callable

from chaoskit.failpoints import failpoint


@failpoint("bench/decorated")
def decorated(x: int) -> int:
    return x + 1


def twin(x: int) -> int:
    return x + 1


def noop(name: str) -> None:
    return None


async def anoop(name: str) -> None:
    return None


def _measure(pairs: dict[str, Callable[[], object]], loops: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of each statement, repeats interleaved to share the noise."""
    samples = _samples(pairs, loops, repeats)
    return {k: statistics.median(v) for k, v in samples.items()}


def _samples(
    pairs: dict[str, Callable[[], object]], loops: int, repeats: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {k: [] for k in pairs}
    order = list(pairs)
    for _ in range(repeats):
        for key in order:
            samples[key].append(timeit.timeit(pairs[key], number=loops) / loops)
        order.reverse()  # alternate who goes first: no systematic order effect
    return samples


def _paired_ratio(samples: dict[str, list[float]], num: str, den: str) -> float:
    """Median of per-repeat ratios: each pair ran back to back, so drift cancels."""
    return statistics.median(a / b for a, b in zip(samples[num], samples[den], strict=True))


def _async_loop_bench(loops: int, repeats: int) -> dict[str, float]:
    inject_async = failpoint.inject_async

    async def run_inject() -> None:
        for _ in range(loops):
            await inject_async("bench/async-off")

    async def run_noop() -> None:
        for _ in range(loops):
            await anoop("bench/async-off")

    samples: dict[str, list[float]] = {"inject_async": [], "noop": []}
    loop = asyncio.new_event_loop()
    try:
        for _ in range(repeats):
            for key, coro in (("inject_async", run_inject), ("noop", run_noop)):
                t = timeit.default_timer()
                loop.run_until_complete(coro())
                samples[key].append((timeit.default_timer() - t) / loops)
    finally:
        loop.close()
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--loops", type=int, default=400_000)
    args = parser.parse_args()
    n, loops = args.repeats, args.loops
    print(
        f"chaoskit failpoint overhead on {platform.python_implementation()} {sys.version.split()[0]}"
    )
    print(
        f"median of N={n} interleaved repeats, {loops} calls each; ratio = median of paired ratios"
    )

    # Statements compiled as code the way users write them (global lookups and a call).
    env = {"decorated": decorated, "twin": twin, "failpoint": failpoint, "noop": noop}
    stmt = {
        "decorated_off": timeit.Timer("decorated(1)", globals=env).timeit,
        "twin": timeit.Timer("twin(1)", globals=env).timeit,
        "inject_off": timeit.Timer("failpoint.inject('bench/off')", globals=env).timeit,
        "noop": timeit.Timer("noop('bench/off')", globals=env).timeit,
    }
    calls = {k: (lambda f=f: f(loops)) for k, f in stmt.items()}
    samples = _samples(calls, 1, n)
    per_call = {k: statistics.median(v) / loops for k, v in samples.items()}

    dec_ratio = _paired_ratio(samples, "decorated_off", "twin")
    inj_ratio = _paired_ratio(samples, "inject_off", "noop")
    print()
    print(f"{'measurement':44} {'ns/call':>9} {'baseline':>9} {'ratio':>7}  goal")
    print(
        f"{'@failpoint function, failpoint off':44} {per_call['decorated_off'] * 1e9:9.1f} "
        f"{per_call['twin'] * 1e9:9.1f} {dec_ratio:7.3f}  <= 1.05 "
        f"{'ok' if dec_ratio <= 1.05 else 'MISSED'}"
    )
    print(
        f"{'failpoint.inject(name), off':44} {per_call['inject_off'] * 1e9:9.1f} "
        f"{per_call['noop'] * 1e9:9.1f} {inj_ratio:7.3f}  <= 1.5  "
        f"{'ok' if inj_ratio <= 1.5 else 'MISSED'}"
    )

    with failpoint.enabled("bench/decorated", "0%return(1)"):
        armed = _measure(
            {"armed": (lambda: timeit.Timer("decorated(1)", globals=env).timeit(loops // 4))},
            1,
            max(3, n // 3),
        )["armed"] / (loops // 4)
    print(
        f"{'@failpoint function, active, not firing':44} {armed * 1e9:9.1f} "
        f"{per_call['twin'] * 1e9:9.1f} {armed / per_call['twin']:7.3f}  (info)"
    )

    with failpoint.enabled("bench/some-other-failpoint", "return(1)"):
        other = _measure(
            {
                "inject": (
                    lambda: timeit.Timer("failpoint.inject('bench/off')", globals=env).timeit(loops)
                ),
                "noop": (lambda: timeit.Timer("noop('bench/off')", globals=env).timeit(loops)),
            },
            1,
            max(3, n // 3),
        )
    print(
        f"{'failpoint.inject(name), off, others active':44} {other['inject'] / loops * 1e9:9.1f} "
        f"{other['noop'] / loops * 1e9:9.1f} {other['inject'] / other['noop']:7.3f}  (info)"
    )

    a = _async_loop_bench(loops // 4, max(3, n // 3))
    print(
        f"{'await failpoint.inject_async(name), off':44} {a['inject_async'] * 1e9:9.1f} "
        f"{a['noop'] * 1e9:9.1f} {a['inject_async'] / a['noop']:7.3f}  (info)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
