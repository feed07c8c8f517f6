"""Pick up scope modules imported after the probe started.

A small meta path finder sits first in ``sys.meta_path`` while the probe runs. For module
names a scope watches (and only those) it asks the other finders for the spec and wraps
the loader, so that right after the module body ran the probe resolves the new code
objects. Inside ``exec_module`` the real loader is put back on the spec and the module
before the body runs, so the module never sees the wrapper. Other import hooks (the
patcher's) keep working: this finder proxies to them and guards against re-entry.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any

from chaoskit.hooks.probe_state import log as _log

__all__ = ["ImportWatcher"]


class _LoaderProxy(importlib.abc.Loader):
    def __init__(self, loader: Any, on_loaded: Callable[[types.ModuleType], None]) -> None:
        self._loader = loader
        self._on_loaded = on_loaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: types.ModuleType) -> None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._loader.exec_module(module)
        self._on_loaded(module)


class ImportWatcher(importlib.abc.MetaPathFinder):
    """Calls ``on_loaded(module)`` after each import of a module ``match`` accepts."""

    def __init__(
        self, match: Callable[[str], bool], on_loaded: Callable[[types.ModuleType], None]
    ) -> None:
        self._match = match
        self._on_loaded = on_loaded
        self._busy = threading.local()

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)

    def __enter__(self) -> ImportWatcher:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if getattr(self._busy, "on", False) or not self._match(fullname):
            return None
        self._busy.on = True
        try:
            spec: importlib.machinery.ModuleSpec | None = None
            for finder in list(sys.meta_path):
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _LoaderProxy(spec.loader, self._safe_on_loaded)
        return spec

    def _safe_on_loaded(self, module: types.ModuleType) -> None:
        try:
            self._on_loaded(module)
        except Exception as exc:
            # never break the user's import; the probe just misses this module
            _log.warning(
                "probe could not watch an imported module", module=module.__name__, error=str(exc)
            )
