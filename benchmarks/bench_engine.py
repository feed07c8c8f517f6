"""Engine benchmarks, ratios measured side by side in one run.

1. Executor per-iteration cost (trivial step, three validators) against pytest-repeat
   running the same trivial step as a test (goal: chaoskit at least 50x faster).
2. ``maybe_*`` outside a scenario against a no-op function call (goal: <= 1.5x).

    python benchmarks/bench_engine.py [--repeats N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, interleaved, per_call

import chaoskit as ck
from chaoskit import validators

TEST_FILE = """
def trivial_step():
    return None

def test_trivial():
    trivial_step()
"""


def trivial(target: object) -> None:
    return None


def executor_per_iteration(n: int) -> float:
    s = (
        ck.scenario("bench")
        .step("trivial", trivial)
        .check("threads", validators.thread_limit(1000))
        .check("recursion", validators.recursion_depth_limit(1000))
        .check("slow", validators.slow_iteration(1.0))
        .repeat(n)
        .seed(1)
        .build()
    )
    ex = ck.Executor(progress=False)
    t0 = time.perf_counter()
    report = ex.run(s)
    elapsed = time.perf_counter() - t0
    assert report.iterations == n and report.passed
    return elapsed / n


def pytest_repeat_per_iteration(tmp: Path, small: int, large: int) -> float:
    def run(count: int) -> float:
        cmd = [
            sys.executable, "-m", "pytest", str(tmp / "test_trivial.py"), "-q", "-p", "no:cacheprovider",
            "-p", "no:chaoskit", "-p", "no:randomly", f"--count={count}", "--rootdir", str(tmp),
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"pytest failed:\n{proc.stdout}\n{proc.stderr}")
        return elapsed

    # the difference cancels pytest's start-up and collection
    return (run(large) - run(small)) / (large - small)


def noop() -> None:
    return None


def noop2(host: str, port: int) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    header("engine")

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "test_trivial.py").write_text(TEST_FILE)
        res = interleaved(
            {
                "executor": lambda: executor_per_iteration(20_000),
                "pytest-repeat": lambda: pytest_repeat_per_iteration(tmp, 200, 2200),
            },
            repeats=args.repeats,
        )
    ratio = res["pytest-repeat"] / res["executor"]
    print(
        f"executor per iteration, 3 validators:            {res['executor'] * 1e6:8.2f} us (median of {args.repeats})"
    )
    print(
        f"pytest-repeat per iteration, same trivial step:  {res['pytest-repeat'] * 1e6:8.2f} us (median of {args.repeats})"
    )
    print(f"chaoskit is {ratio:.1f}x faster per iteration   (goal >= 50x)")

    number = 200_000
    calls = {
        "noop": lambda: per_call(noop, number),
        "maybe_panic": lambda: per_call(ck.maybe_panic, number),
        "maybe_delay": lambda: per_call(ck.maybe_delay, number),
        "maybe_error": lambda: per_call(ck.maybe_error, number),
    }
    off = interleaved(calls, repeats=args.repeats * 3)
    base = off["noop"]
    print(f"\nno-op call: {base * 1e9:.1f} ns (median of {args.repeats * 3} x {number} calls)")
    for name in ("maybe_panic", "maybe_delay", "maybe_error"):
        print(
            f"{name}() outside a scenario vs no-op call: {off[name] / base:5.2f}x   (goal <= 1.5x)"
        )
    hook = ck.maybe_network_chaos  # bound once, like the other hooks above
    net = per_call(lambda: hook("db", 5432), number)
    lam = per_call(lambda: noop2("db", 5432), number)
    print(
        f"maybe_network_chaos(host, port) vs the same call shape to a no-op: {net / lam:5.2f}x   (goal <= 1.5x)"
    )


if __name__ == "__main__":
    main()
