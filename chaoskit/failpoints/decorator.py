"""``@failpoint("name")`` and the ``failpoint`` namespace object.

The decorator returns the very function it was given. While ``name`` is inactive in every
scope the function runs its original code object; when ``name`` becomes active anywhere,
:mod:`chaoskit.hooks.codeswap` swaps in an armed twin that evaluates the failpoint at
entry, and swaps the original back when it becomes inactive again.
"""

from __future__ import annotations

import types
import weakref

from chaoskit.errors import ConfigError
from chaoskit.failpoints import registry
from chaoskit.failpoints.registry import _live
from chaoskit.failpoints.terms import Terms

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from typing import Any, TypeVar

    F = TypeVar("F")

__all__ = ["FailpointNamespace", "failpoint"]


class _Arming:
    """The watcher that arms/disarms one decorated function (held weakly)."""

    __slots__ = ("__weakref__", "armed", "func_ref", "name", "unwatch")

    def __init__(self, func: types.FunctionType, name: str) -> None:
        self.func_ref = weakref.ref(func, self._gone)
        self.name = name
        self.armed: Any = None
        self.unwatch: Callable[[], None] | None = None

    def _gone(self, _ref: object) -> None:
        if self.unwatch is not None:
            self.unwatch()

    def __call__(self, active: bool) -> None:
        from chaoskit.hooks import codeswap

        func = self.func_ref()
        if func is None:
            return
        if active and self.armed is None:
            self.armed = codeswap.arm(func, self.name)
        elif not active and self.armed is not None:
            self.armed.disarm()
            self.armed = None


def _decorate(name: str, target: Any) -> Any:
    inner = target
    if isinstance(inner, (classmethod, staticmethod)):
        inner = inner.__func__
    if not isinstance(inner, types.FunctionType):
        raise ConfigError(
            f"@failpoint({name!r}) needs a Python function, method, classmethod or "
            f"staticmethod, not {type(target).__name__}"
        )
    registry.register(name)
    arming = _Arming(inner, name)  # the registry's watcher list keeps it alive
    arming.unwatch = registry.watch(name, arming)
    return target


class FailpointNamespace:
    """``failpoint``: the decorator and the control API in one object.

    ``@failpoint("name")`` decorates; ``failpoint.inject(name)``,
    ``await failpoint.inject_async(name)``, ``failpoint.enable(name, terms)``,
    ``failpoint.disable(name)``, ``with failpoint.enabled(name, terms)``,
    ``failpoint.status()``, ``failpoint.wait_until_hit(name, timeout)`` and
    ``with failpoint.scope()`` control it.
    """

    enable: Callable[..., Terms]
    disable: Callable[..., bool]
    enabled: Callable[[str, str | Terms], AbstractContextManager[Terms]]
    status: Callable[..., dict[str, registry.FailpointStatus]]
    wait_until_hit: Callable[..., bool]
    scope: Callable[..., AbstractContextManager[registry.Scope]]
    is_active: Callable[[str], bool]
    hit_count: Callable[[str], int]
    reset: Callable[[], None]
    NO_VALUE: Any

    def __init__(self) -> None:
        self.enable = registry.enable
        self.disable = registry.disable
        self.enabled = registry.enabled
        self.status = registry.status
        self.wait_until_hit = registry.wait_until_hit
        self.scope = registry.scope
        self.is_active = registry.is_active
        self.hit_count = registry.hit_count
        self.reset = registry.reset
        self.NO_VALUE = registry.NO_VALUE

    # inject/inject_async are methods (a specialised method call is the cheapest way to
    # spell ``failpoint.inject(name)``); while nothing is live anywhere they run the code
    # of an empty method (registry.add_fast_path).
    def inject(self, name: str) -> Any:
        """Inline failpoint: the fired ``return`` value, else None. Near free when off."""
        if name not in _live:
            return None
        return registry.inject(name)

    async def inject_async(self, name: str) -> Any:
        """Async inline failpoint: awaits sleeps and pauses instead of blocking the loop."""
        if name not in _live:
            return None
        return await registry.inject_async(name)

    def __call__(self, name: str) -> Callable[[F], F]:
        """``@failpoint("name")`` on a function, method, classmethod or staticmethod."""
        if callable(name) and not isinstance(name, str):
            raise ConfigError("@failpoint needs a name: use @failpoint('name')")
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ConfigError(f"bad failpoint name {name!r}")

        def decorator(target: F) -> F:
            return _decorate(name, target)  # type: ignore[no-any-return]

        return decorator

    def __iter__(self) -> Iterator[str]:
        return iter(registry.status())

    def __repr__(self) -> str:
        return "<chaoskit failpoint>"


def _inject_off(self: FailpointNamespace, name: str) -> Any:
    return None


async def _inject_async_off(self: FailpointNamespace, name: str) -> Any:
    return None


registry.add_fast_path(FailpointNamespace.inject, _inject_off)
registry.add_fast_path(FailpointNamespace.inject_async, _inject_async_off)

failpoint = FailpointNamespace()
