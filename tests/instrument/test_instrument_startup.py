"""Start-up laziness of the instrument wrapper: a run without targets loads little."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_wrapper_without_targets_imports_little(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(
        "import sys\n"
        "heavy = ('dataclasses', 'logging', 'chaoskit.scenario', 'chaoskit.failpoints',"
        " 'chaoskit.context', 'chaoskit.hooks.codeswap', 'bytecode')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSKIT_")}
    done = subprocess.run(
        [sys.executable, "-m", "chaoskit.instrument", "--no-summary", "-m", "tiny"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == ""
