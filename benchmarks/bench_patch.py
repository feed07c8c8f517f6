"""Cost per call of a patched function whose failpoint is armed but does not fire.

Prints, side by side in one run, the median time per call (over N interleaved repeats) of
a plain function and the same function patched with terms that never fire
(``0%return(1)``: every call is a counted hit), with ``registry.evaluate()`` alone for
comparison (the part of the cost that is the failpoint evaluation, not the code swap), the
function after ``undo()`` (must equal plain), a method, and a C function (``math.hypot``)
patched through the wrapt attribute wrapper.

    .venv/bin/python benchmarks/bench_patch.py
"""

from __future__ import annotations

import math
import statistics
import sys
import timeit
import types
import warnings

REPEATS = 15
NUMBER = 50_000

SOURCE = """
def work(a, b):
    return a + b

class Repo:
    def save(self, x):
        return x
"""


def _module() -> types.ModuleType:
    mod = types.ModuleType("bench_target")
    exec(compile(SOURCE, "bench_target.py", "exec"), mod.__dict__)
    sys.modules["bench_target"] = mod
    return mod


def once(stmt: str, namespace: dict[str, object]) -> float:
    return timeit.Timer(stmt, globals=namespace).timeit(number=NUMBER) / NUMBER


def main() -> None:
    from chaoskit.failpoints import registry
    from chaoskit.hooks import patch
    from chaoskit.hooks.patcher import PatchWarning

    warnings.simplefilter("ignore", PatchWarning)
    mod = _module()
    ns: dict[str, object] = {
        "work": mod.work,
        "repo": mod.Repo(),
        "math": math,
        "evaluate": registry.evaluate,
    }
    samples: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        samples.setdefault(key, []).append(value)

    for _ in range(REPEATS):  # interleaved: drift on a shared machine hits every case alike
        add("plain f", once("work(1, 2)", ns))
        with patch("bench_target:work", "0%return(1)"):
            add("armed f", once("work(1, 2)", ns))
            add("evaluate", once("evaluate('bench_target:work')", ns))
        add("undone f", once("work(1, 2)", ns))
        add("plain m", once("repo.save(1)", ns))
        with patch("bench_target:Repo.save", "0%return(1)"):
            add("armed m", once("repo.save(1)", ns))
        add("plain c", once("math.hypot(3.0, 4.0)", ns))
        with patch("math:hypot", "0%return(1)"):
            add("armed c", once("math.hypot(3.0, 4.0)", ns))

    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = [
        ("function, armed not firing", med["plain f"], med["armed f"]),
        ("  registry.evaluate() alone", med["plain f"], med["evaluate"]),
        ("function, after undo", med["plain f"], med["undone f"]),
        ("method, armed not firing", med["plain m"], med["armed m"]),
        ("C function (wrapt), armed not firing", med["plain c"], med["armed c"]),
    ]
    print(f"chaoskit patch cost per call: median of {REPEATS} interleaved repeats x {NUMBER} calls")
    print(f"python {sys.version.split()[0]}")
    print(f"{'case':<40} {'plain ns':>9} {'patched ns':>11} {'ratio':>7} {'added ns':>9}")
    for name, base, other in rows:
        print(
            f"{name:<40} {base * 1e9:>9.1f} {other * 1e9:>11.1f} {other / base:>6.2f}x "
            f"{(other - base) * 1e9:>9.1f}"
        )


if __name__ == "__main__":
    main()
