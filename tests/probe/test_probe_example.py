"""The example: an unmodified recursive program measured by ``chaoskit.instrument --probe``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "probe_recursion"


def _instrument(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(EXAMPLE)
    return subprocess.run(
        [sys.executable, "-m", "chaoskit.instrument", *args],
        capture_output=True,
        text=True,
        cwd=EXAMPLE,
        env=env,
        timeout=120,
    )


def test_example_prints_max_depths_of_an_unmodified_program():
    out = _instrument("--probe", "calc.parser", "-m", "calc", "((((((1))))))", "1+2")
    assert out.returncode == 0, out.stderr
    assert "((((((1)))))) = 1" in out.stdout
    lines = [" ".join(line.split()) for line in out.stderr.splitlines()]
    assert "max depth 19 calc.parser:Parser.expr" in lines
    assert "max depth 19 calc.parser:Parser.factor" in lines
    assert "max depth 1 calc.parser:evaluate" in lines


def test_example_function_scope_counts_only_that_function():
    out = _instrument("--probe", "calc.parser:Parser.factor", "-m", "calc", "((((((1))))))")
    assert out.returncode == 0, out.stderr
    lines = [" ".join(line.split()) for line in out.stderr.splitlines()]
    assert "max depth 7 calc.parser:Parser.factor" in lines
    assert not any("Parser.expr" in line for line in lines)


def test_example_in_process():
    sys.path.insert(0, str(EXAMPLE))
    try:
        from calc.parser import evaluate

        import chaoskit.hooks

        with chaoskit.hooks.probe("calc.parser") as p:
            assert evaluate("((((((1))))))") == 1
        assert p.max_depths["calc.parser:Parser.expr"] == 19
    finally:
        sys.path.remove(str(EXAMPLE))
        for name in [m for m in sys.modules if m == "calc" or m.startswith("calc.")]:
            del sys.modules[name]


def test_bad_probe_scope_on_the_command_line_is_reported():
    out = _instrument("--probe", "calc..parser", "-m", "calc", "1")
    assert out.returncode != 0
    assert "calc..parser" in out.stderr


def test_scope_naming_nothing_in_a_later_import_is_reported_not_fatal():
    """The module is imported after the probe started: the program runs, with a warning."""
    out = _instrument("--probe", "calc.parser:Nope", "-m", "calc", "1")
    assert out.returncode == 0
    assert "1 = 1" in out.stdout
    assert "probe scope names nothing" in out.stdout + out.stderr
    assert "calc.parser:Nope" in out.stdout + out.stderr
