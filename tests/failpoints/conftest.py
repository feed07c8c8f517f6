"""Fixtures for the failpoint tests: every test starts and ends with no active failpoint."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from chaoskit.failpoints import registry

_names = itertools.count()


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def fp_name() -> str:
    """A failpoint name unique to the test."""
    return f"test-fp-{next(_names)}"
