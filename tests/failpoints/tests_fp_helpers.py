"""Targets for ``call(...)`` terms in the failpoint tests (importable by module name)."""

from __future__ import annotations

from typing import Any

seen: list[Any] = []


def answer(hit: Any) -> int:
    return 42


def record(hit: Any) -> None:
    seen.append(hit)


async def async_answer(hit: Any) -> int:
    return 43
