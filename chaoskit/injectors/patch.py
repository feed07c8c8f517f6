"""``injectors.patch({...})``: patch named functions for the length of a scenario.

``injectors.patch({"myapp.db:Repo.save": "10%raise(ConnectionError)"})`` applies
:func:`chaoskit.hooks.patch` to each target when the scenario starts and undoes every patch
when it stops, so the code under test is unmodified before and after. Hits and firings
reach the scenario's event stream as ``FailpointHit``/``FailpointFired`` events (the
failpoint registry publishes them); :meth:`PatchInjector.metrics` adds per-target counts.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import Any

from chaoskit.context import RunContext
from chaoskit.errors import ConfigError
from chaoskit.injectors.base import BaseInjector

__all__ = ["PatchInjector", "patch"]


class PatchInjector(BaseInjector):
    """Applies ``{target: terms}`` patches while the scenario runs."""

    kind = "patch"

    def __init__(
        self, targets: Mapping[str, str], name: str | None = None, *, on_import: bool = False
    ) -> None:
        super().__init__(name)
        from chaoskit.failpoints.terms import parse_terms
        from chaoskit.hooks.resolve import parse_target

        if not isinstance(targets, Mapping) or not targets:
            raise ConfigError(
                f"patch() takes a non-empty mapping of 'module:qualname' to terms, not {targets!r}"
            )
        self.targets: dict[str, str] = {}
        for target, terms in targets.items():
            source = f"injectors.patch entry {target!r}"
            if not isinstance(target, str):
                raise ConfigError(f"patch target must be a string, not {target!r}")
            parse_target(target, source=source)
            if not isinstance(terms, str):
                raise ConfigError(
                    f"terms for {target!r} must be a string, not {type(terms).__name__}",
                    source=source,
                )
            parse_terms(terms, source=source)
            self.targets[target.strip()] = terms
        self.on_import = on_import
        self._handles: list[Any] = []
        self._final: dict[str, dict[str, Any]] = {}

    def start(self, ctx: RunContext) -> None:
        from chaoskit.hooks.patcher import patch as apply_patch

        self._final.clear()
        try:
            for target, terms in self.targets.items():
                self._handles.append(apply_patch(target, terms, on_import=self.on_import))
        except BaseException:
            self._undo()
            raise
        super().start(ctx)

    def stop(self, ctx: RunContext) -> None:
        try:
            self._final = self.counts()
        finally:
            self._undo()
            super().stop(ctx)

    def _undo(self) -> None:
        handles, self._handles = self._handles, []
        for handle in reversed(handles):
            handle.undo()

    def counts(self) -> dict[str, dict[str, Any]]:
        """``{target: {"hits", "fired", "status", "where"}}`` (final values after stop)."""
        if not self._handles:
            return {k: dict(v) for k, v in self._final.items()}
        from chaoskit.hooks.patcher import failpoint_counts

        out: dict[str, dict[str, Any]] = {}
        for handle in self._handles:
            hits, fired = failpoint_counts(handle.target)
            out[handle.target] = {
                "hits": hits,
                "fired": fired,
                "status": handle.status,
                "where": handle.where,
            }
        return out

    def metrics(self) -> dict[str, Any]:
        counts = self.counts()
        out = super().metrics()
        out["targets"] = counts
        out["hits"] = sum(c["hits"] for c in counts.values())
        out["fired"] = sum(c["fired"] for c in counts.values())
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.targets.items())
        return f"<PatchInjector {self.name!r} {inner}>"


def patch(
    targets: Mapping[str, str], name: str | None = None, *, on_import: bool = False
) -> PatchInjector:
    """Patch functions of the code under test for the duration of a scenario.

    ``injectors.patch({"myapp.db:Repo.save": "10%raise(ConnectionError)"})``. Modules are
    imported when the scenario starts unless ``on_import`` (then a target applies when its
    module is first imported). Bad targets or terms raise ``ConfigError`` here.
    """
    return PatchInjector(targets, name, on_import=on_import)


class _CallableModule(types.ModuleType):
    """``chaoskit.injectors.patch`` is both this module and the factory function."""

    def __call__(
        self, targets: Mapping[str, str], name: str | None = None, *, on_import: bool = False
    ) -> PatchInjector:
        return patch(targets, name, on_import=on_import)


sys.modules[__name__].__class__ = _CallableModule
