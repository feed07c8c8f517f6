"""The staging example runs end to end (env var run and HTTP run from a second process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_staging_example_behaves_as_configured() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "failpoints_staging" / "main.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "both runs behaved as configured" in proc.stdout
    assert "PUT /orders/save-error 'raise(OSError)' -> 204" in proc.stdout
    assert "DELETE /orders/save-error -> 204" in proc.stdout
