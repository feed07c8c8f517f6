"""What the probe costs: a recursion-heavy workload in scope, and the same out of scope.

Prints, side by side in one run, the median time (over N interleaved repeats) of
``fib(24)`` (~150,000 calls of ~40 ns of work each: the worst case) run

- with no probe,
- under ``chaoskit.hooks.probe`` watching it (the default backend for this Python), once
  with the C core (the optional accelerator, when built) and once with the pure-Python
  callbacks,
- under a plain ``sys.settrace`` depth counter (the classic way: a global trace function
  that counts depth for that one function and returns a local tracer for its returns),
- under the probe's other backends (for comparison),
- under a probe watching *another* module (the workload is out of scope), both cores,
- under the stack sampler alone (sampling every 10 ms);

and the same for a tree walk that does some work in each call (``render``).

Goals: the probe's added cost in scope at most half the settrace counter's added cost;
out of scope at most 1.05x (3.12+; on 3.11 every backend is a per-thread trace hook and
costs something on every call).

    .venv/bin/python benchmarks/bench_probe.py
"""

from __future__ import annotations

import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

REPEATS = 15
N = 24

SOURCE = """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def build(depth, fanout):
    if depth == 0:
        return {"leaf": True}
    return {"depth": depth, "children": [build(depth - 1, fanout) for _ in range(fanout)]}

def render(node, indent=0):
    # a tree walk with some work per call: ~1 us, a more typical recursive function
    if "leaf" in node:
        return " " * indent + "leaf"
    parts = [" " * indent + f"node {node['depth']} with {len(node['children'])} children"]
    for child in node["children"]:
        parts.append(render(child, indent + 1))
    return "\\n".join(parts)
"""
OTHER = """
def elsewhere(n):
    return n
"""


def _module(name: str, source: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = f"{name}.py"
    exec(compile(source, mod.__file__, "exec"), mod.__dict__)
    sys.modules[name] = mod
    return mod


@contextmanager
def settrace_counter(code: types.CodeType) -> Iterator[dict[str, int]]:
    """A plain settrace depth counter for one code object (what a user would write)."""
    state = {"depth": 0, "max": 0}

    def local(frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "return":
            state["depth"] -= 1
        return local

    def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is code:
            state["depth"] += 1
            if state["depth"] > state["max"]:
                state["max"] = state["depth"]
            frame.f_trace_lines = False
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        yield state
    finally:
        sys.settrace(previous)


def timed(fn: Callable[[], object], ctx: Callable[[], AbstractContextManager[Any]]) -> float:
    with ctx():
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def measure(
    work: Callable[[], object],
    code: types.CodeType,
    variants: dict[str, Callable[[], AbstractContextManager[Any]]],
) -> dict[str, float]:
    variants = {**variants, "plain settrace depth counter": lambda: settrace_counter(code)}
    for ctx in variants.values():  # warm up (imports, specialisation)
        timed(work, ctx)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(REPEATS):  # interleaved, so that noise hits every variant alike
        for name, ctx in variants.items():
            samples[name].append(timed(work, ctx))
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, med: dict[str, float], backend: str, cores: list[str]) -> None:
    base = med["no probe"]
    print(f"### {title}")
    for name, value in med.items():
        print(f"{name:<50} {value * 1e3:8.2f} ms  {value / base:6.2f}x")
    trace_added = med["plain settrace depth counter"] - base
    for core in cores:
        probe_added = med[f"probe in scope ({backend}, {core} core)"] - base
        share = probe_added / trace_added if trace_added > 0 else float("nan")
        out = med[f"probe out of scope ({backend}, {core} core)"] / base
        print(
            f"{core:>6} core: in scope it adds {share:.2f} of the settrace counter's added "
            f"cost (goal <= 0.50: {'met' if share <= 0.5 else 'NOT met'}); out of scope "
            f"{out:.3f}x (goal <= 1.05x on 3.12+: {'met' if out <= 1.05 else 'NOT met'})"
        )


def main() -> None:
    from chaoskit.hooks.probe import probe, select_backend
    from chaoskit.hooks.probe_core import select_core
    from chaoskit.hooks.sampler import Sampler

    mod = _module("bench_probe_target", SOURCE)
    _module("bench_probe_other", OTHER)
    default_backend = select_backend()[0]
    others = [
        b
        for b in ("sys.monitoring", "settrace", "setprofile")
        if b != default_backend and (b != "sys.monitoring" or sys.version_info >= (3, 12))
    ]
    c_module, _, c_reason = select_core(default_backend)
    cores = ["c", "python"] if c_module is not None else ["python"]
    variants: dict[str, Callable[[], AbstractContextManager[Any]]] = {"no probe": nullcontext}
    for core in cores:
        variants[f"probe in scope ({default_backend}, {core} core)"] = lambda core=core: probe(
            "bench_probe_target", core=core
        )
    for core in cores:
        variants[f"probe out of scope ({default_backend}, {core} core)"] = lambda core=core: probe(
            "bench_probe_other", core=core
        )
    for name in others:
        variants[f"probe in scope ({name})"] = lambda name=name: probe(
            "bench_probe_target", backend=name
        )
    variants["sampler alone, every 10 ms"] = lambda: Sampler(interval=0.01)

    with probe("bench_probe_target") as check:
        mod.fib(N)
    assert check.max_depths["bench_probe_target:fib"] == N, check.max_depths

    tree = mod.build(8, 3)
    print(f"## probe cost: CPython {sys.version.split()[0]}, median of {REPEATS} interleaved runs")
    print(f"default backend {default_backend}; core: {c_reason}")
    report(
        f"fib({N}): ~150,000 calls of ~40 ns each (the worst case)",
        measure(lambda: mod.fib(N), mod.fib.__code__, variants),
        default_backend,
        cores,
    )
    report(
        "render(tree): 9,841 calls (x10) of a tree walk doing some work per call",
        measure(lambda: [mod.render(tree) for _ in range(10)], mod.render.__code__, variants),
        default_backend,
        cores,
    )


if __name__ == "__main__":
    main()
