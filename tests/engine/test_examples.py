"""Every engine example runs as a user would run it, and says what it should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_simple_example_passes() -> None:
    proc = run_example("examples/simple/main.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "simple-cache" in proc.stdout and "PASS" in proc.stdout


def test_continuous_example_prints_live_statistics() -> None:
    proc = run_example("examples/continuous/main.py", "2.5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    live = [
        line for line in proc.stdout.splitlines() if line.startswith("[") and "iterations" in line
    ]
    assert len(live) >= 2
    assert "served" in proc.stdout


def test_chaos_context_example_passes_and_hooks_are_inert_outside() -> None:
    proc = run_example("examples/chaos_context/main.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "outside a scenario: stock {'apple': 10, 'pear': 5}" in proc.stdout


def test_workflow_engine_demo_writes_reports_and_validates_recursion(tmp_path: Path) -> None:
    proc = run_example(
        "examples/workflow_engine/main.py",
        "--iterations",
        "120",
        "--seed",
        "3",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["iterations"] == 120 and data["seed"] == 3
    assert data["injections"]["panic"]["panic"] > 0
    assert any("_compensate" in fn for fn in data["max_depths"]), data["max_depths"]
    assert (tmp_path / "events.jsonl").stat().st_size > 0


def test_workflow_engine_with_unbounded_retries_fails_on_recursion(tmp_path: Path) -> None:
    proc = run_example(
        "examples/workflow_engine/main.py",
        "--iterations",
        "200",
        "--seed",
        "3",
        "--max-retries",
        "1000",
        "--error-rate",
        "0.6",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    assert not data["verdicts"]["recursion"]["passed"]
