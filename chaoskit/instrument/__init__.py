"""Run an unmodified program with failpoints, patches and the probe applied.

``python -m chaoskit.instrument [options] (script.py | -m module) [args...]``; see
``docs/patching.md``. :func:`main` is the command; :class:`Session` applies settings in
process (tests, embedding).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Session", "main"]


def __getattr__(name: str) -> Any:
    if name == "main":
        from chaoskit.instrument.cli import main

        return main
    if name == "Session":
        from chaoskit.instrument.session import Session

        return Session
    raise AttributeError(f"module 'chaoskit.instrument' has no attribute {name!r}")
