"""``injectors.failpoints({...})``: activate failpoint terms for the length of a scenario.

The terms are enabled in the root failpoint scope when the scenario starts (so worker
threads see them) and the previous settings are restored when it stops. Hits and firings
reach the scenario's event bus as ``FailpointHit``/``FailpointFired`` events (and so the
report); :meth:`FailpointsInjector.metrics` adds per-failpoint counts.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import Any

from chaoskit.context import RunContext
from chaoskit.errors import ConfigError
from chaoskit.failpoints import registry
from chaoskit.failpoints.terms import Terms, parse_terms
from chaoskit.injectors.base import BaseInjector

__all__ = ["FailpointsInjector", "failpoints"]


class FailpointsInjector(BaseInjector):
    """Enables ``{name: terms}`` while the scenario runs."""

    kind = "failpoints"

    def __init__(self, terms: Mapping[str, str | Terms], name: str | None = None) -> None:
        super().__init__(name)
        self.terms: dict[str, Terms] = {}
        if not isinstance(terms, Mapping):
            self._config_errors.append(
                ConfigError(f"failpoints() takes a mapping of name to terms, not {terms!r}")
            )
            terms = {}
        for fp_name, text in terms.items():
            try:
                self.terms[fp_name] = _parse(fp_name, text)
            except ConfigError as exc:
                self._config_errors.append(exc)
        self._previous: dict[str, Any] = {}
        self._counts_at_stop: dict[str, dict[str, int]] = {}

    def start(self, ctx: RunContext) -> None:
        super().start(ctx)
        self._previous.clear()
        self._counts_at_stop.clear()
        for fp_name, terms in self.terms.items():
            self._previous[fp_name] = registry.saved(fp_name, scope=registry.ROOT)
            registry.enable(fp_name, terms, scope=registry.ROOT)

    def stop(self, ctx: RunContext) -> None:
        try:
            for fp_name in self.terms:
                hits, fired = registry.counts(fp_name)
                self._counts_at_stop[fp_name] = {"hits": hits, "fired": fired}
                previous = self._previous.pop(fp_name, None)
                if previous is not None:
                    registry.restore(fp_name, previous, scope=registry.ROOT)
                else:
                    registry.disable(fp_name, scope=registry.ROOT)
        finally:
            super().stop(ctx)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{name: {"hits": n, "fired": n}}`` (live while running, final after stop)."""
        if self.running:
            out = {}
            for fp_name in self.terms:
                hits, fired = registry.counts(fp_name)
                out[fp_name] = {"hits": hits, "fired": fired}
            return out
        return {k: dict(v) for k, v in self._counts_at_stop.items()}

    def metrics(self) -> dict[str, Any]:
        counts = self.counts()
        out = super().metrics()
        out["failpoints"] = counts
        registered = registry.registered()
        out["never_registered"] = sorted(name for name in self.terms if name not in registered)
        out["hits"] = sum(c["hits"] for c in counts.values())
        out["fired"] = sum(c["fired"] for c in counts.values())
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.terms.items())
        return f"<FailpointsInjector {self.name!r} {inner}>"


def _parse(name: str, text: str | Terms) -> Terms:
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ConfigError(f"bad failpoint name {name!r}", source="injectors.failpoints")
    if isinstance(text, Terms):
        return text
    if not isinstance(text, str):
        raise ConfigError(
            f"terms for failpoint {name!r} must be a string, not {type(text).__name__}",
            source="injectors.failpoints",
        )
    return parse_terms(text, source=f"injectors.failpoints entry {name!r}")


def failpoints(terms: Mapping[str, str | Terms], name: str | None = None) -> FailpointsInjector:
    """Enable failpoint terms for the duration of a scenario.

    ``injectors.failpoints({"save-error": "10%raise(OSError)", "slow": "sleep(5ms)"})``.
    Function targets (``"pkg.mod:Qual.name"``) are failpoint names too: combine with
    ``injectors.patch`` to arm such functions.
    """
    return FailpointsInjector(terms, name)


class _CallableModule(types.ModuleType):
    """``chaoskit.injectors.failpoints`` is both this module and the factory function.

    Importing the submodule directly (``from chaoskit.injectors.failpoints import ...``)
    rebinds the package attribute ``injectors.failpoints`` to the module; making the module
    callable keeps ``injectors.failpoints({...})`` working whichever import came first.
    """

    def __call__(
        self, terms: Mapping[str, str | Terms], name: str | None = None
    ) -> FailpointsInjector:
        return failpoints(terms, name)


sys.modules[__name__].__class__ = _CallableModule
