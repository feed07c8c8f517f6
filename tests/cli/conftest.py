"""Helpers for CLI tests: a scenario module with a unique name in a temporary directory."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

_counter = itertools.count()

APP = """
import chaoskit as ck
from chaoskit import injectors, validators


class Shop:
    name = "shop"

    def __init__(self):
        self.n = 0


def checkout(shop):
    shop.n += 1
    ck.maybe_delay()
    if FAIL_EVERY and shop.n % FAIL_EVERY == 0:
        raise TimeoutError(f"timeout after {shop.n} ms")


def ok(shop):
    shop.n += 1


def consistent(shop):
    return "stock went negative" if shop.n == 2 else None
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[int], str]:
    """Write an app module failing every ``n``-th checkout; returns its module name."""
    monkeypatch.chdir(tmp_path)

    def make(fail_every: int = 0) -> str:
        name = f"shopapp_{next(_counter)}_{tmp_path.name.replace('-', '_')}"
        (tmp_path / f"{name}.py").write_text(APP.replace("FAIL_EVERY", str(fail_every)))
        return name

    return make
