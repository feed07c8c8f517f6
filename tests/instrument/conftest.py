"""Helpers for running programs under ``python -m chaoskit.instrument`` in real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSKIT_")}
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(relpath: str, source: str) -> Path:
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return _write


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """``run(*args, wrapper=True, env=None, input=None)``: the wrapper (or plain python)."""

    def _run(
        *args: str,
        wrapper: bool = True,
        env: dict[str, str] | None = None,
        input: str | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, *(["-m", "chaoskit.instrument"] if wrapper else []), *args]
        return subprocess.run(
            cmd,
            cwd=cwd or tmp_path,
            env=_env(env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run
