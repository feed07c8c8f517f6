"""Helpers shared by the benchmark scripts: medians of repeated, interleaved measurements."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` calls (one sample)."""
    loop = range(number)
    t0 = time.perf_counter()
    for _ in loop:
        fn()
    return (time.perf_counter() - t0) / number


def interleaved(candidates: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Run each sampler ``repeats`` times, interleaved, and return the median of each."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, sample in candidates.items():
            samples[name].append(sample())
    return {name: statistics.median(values) for name, values in samples.items()}


def header(title: str) -> None:
    print(f"## {title}  (CPython {sys.version.split()[0]})")


def ratio_line(label: str, value: float, base: float, goal: str) -> str:
    return f"{label:<48} {value / base:6.2f}x   (goal {goal})"
