"""Start-up cost of ``python -m chaoskit.instrument`` against plain ``python -m``.

Runs, interleaved, N times each: ``python -m tiny`` (a module that does nothing),
``python -c "import chaoskit"``, the wrapper with no failpoints, and the wrapper with one
function target (``tiny:f``, which ``-m tiny`` runs as ``__main__``, so the patch is really
applied); prints the median wall time of each and its ratio to plain ``python -m``.

Goal: the wrapper itself (no targets) <= 1.3x. A target adds what applying it needs: the
failpoint registry and the ``bytecode`` library that builds the armed code (which imports
``typing``, ``dataclasses`` and ``inspect``), child-process propagation (``tempfile``,
``json``) and the SIGTERM handler (``signal``).

    .venv/bin/python benchmarks/bench_instrument_startup.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 15


def timed(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tiny.py").write_text("def f():\n    return 1\n\nf()\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSKIT_")}
        # Measure with bytecode caches, as installed programs run: without them (e.g.
        # PYTHONDONTWRITEBYTECODE set in a CI or sandbox environment) every chaoskit module is
        # compiled on every run. The caches go to a private prefix, not into the source tree.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp, "pycache"))
        cases = {
            "python -m tiny": [py, "-m", "tiny"],
            'python -c "import chaoskit"': [py, "-c", "import chaoskit"],
            "instrument -m tiny (no targets)": [
                py,
                "-m",
                "chaoskit.instrument",
                "--no-summary",
                "-m",
                "tiny",
            ],
            "instrument -f tiny:f=... -m tiny": [
                py,
                "-m",
                "chaoskit.instrument",
                "--no-summary",
                "-f",
                "tiny:f=0%return(2)",
                "-m",
                "tiny",
            ],
        }
        for cmd in cases.values():  # warm the file cache and bytecode caches
            timed(cmd, tmp, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(REPEATS):
            for name, cmd in cases.items():
                times[name].append(timed(cmd, tmp, env))
    base = statistics.median(times["python -m tiny"])
    print(f"start-up time, median of {REPEATS} interleaved runs (python {sys.version.split()[0]})")
    print(f"{'command':<36} {'median ms':>10} {'ratio':>7}")
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"{name:<36} {med * 1000:>10.1f} {med / base:>6.2f}x")


if __name__ == "__main__":
    main()
