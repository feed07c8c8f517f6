"""Typed users see ``chaoskit.hooks.probe`` as the function (mypy --strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_CODE = """
import chaoskit.hooks
from chaoskit.hooks import probe
from chaoskit.hooks.probe import Probe, active_probes

with chaoskit.hooks.probe("json") as p:
    pass
with probe("json", backend="settrace") as q:
    pass
depths: dict[str, int] = p.max_depths
probes: list[Probe] = active_probes()
info: tuple[str, int] | None = q.loop_info(1)
"""


def test_public_names_type_check(tmp_path: Path):
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
