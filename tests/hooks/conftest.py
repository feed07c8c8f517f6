"""Fixtures for the patcher and import-hook tests: throwaway modules on disk."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


class ModuleFactory:
    """Writes modules under a fresh directory on ``sys.path`` with unique package names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = f"ckt_{uuid.uuid4().hex[:8]}"

    def write(self, relname: str, source: str) -> str:
        """Write module ``<prefix>_<relname>`` (dots make packages); return its full name."""
        name = f"{self.prefix}_{relname}"
        parts = name.split(".")
        directory = self.root
        for pkg in parts[:-1]:
            directory = directory / pkg
            directory.mkdir(exist_ok=True)
            init = directory / "__init__.py"
            if not init.exists():
                init.write_text("")
        (directory / f"{parts[-1]}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    def namespace(self, relname: str) -> str:
        """Create a namespace package directory (no ``__init__.py``)."""
        name = f"{self.prefix}_{relname}"
        (self.root / name).mkdir()
        importlib.invalidate_caches()
        return name


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[ModuleFactory]:
    factory = ModuleFactory(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield factory
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith(factory.prefix)]:
            del sys.modules[name]


@pytest.fixture
def meta_path_guard() -> Iterator[Callable[[], list[object]]]:
    """Asserts the test leaves sys.meta_path exactly as it found it."""
    before = list(sys.meta_path)
    yield lambda: before
    assert sys.meta_path == before


@pytest.fixture(autouse=True)
def _no_leftover_patches() -> Iterator[None]:
    """Every test must undo what it patched; leftovers are undone and fail the test."""
    from chaoskit.hooks.patcher import active_patches

    yield
    left = active_patches()
    for handle in left:
        handle.undo()
    assert not left, f"patches left applied: {left}"
