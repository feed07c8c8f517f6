"""Patch named functions of unmodified code: ``patch("pkg.mod:Qual.name", terms)``.

A patch of target ``"pkg.mod:Qual.name"`` enables the failpoint of that name with the
terms and arms the function so that it evaluates the failpoint at entry:

- Python functions (module functions, methods, classmethods, staticmethods, property
  getters, async functions, generators, originals hidden behind decorators) get their
  ``__code__`` swapped in place (:mod:`chaoskit.hooks.codeswap`), so every reference taken
  earlier sees the patch; undoing puts back the identical code object.
- Callables without Python code (C functions, builtins, callable objects) are reached by
  replacing the attribute with a ``wrapt`` wrapper: references taken *before* the patch keep
  the original, and a :class:`PatchWarning` says so.

Patching a target that is already patched stacks: the newest live patch's terms are in
force, undoing any of them (in any order) falls back to the newest remaining one, and the
function is disarmed when the last is undone. Two different targets that resolve to the same
function are refused with a :class:`~chaoskit.errors.ConfigError`.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
import warnings

from chaoskit.errors import ConfigError
from chaoskit.hooks.importhook import Watch, log, when_imported
from chaoskit.hooks.resolve import Resolved, Target, parse_target, resolve

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "PatchHandle",
    "PatchWarning",
    "active_patches",
    "patch",
    "patch_on_import",
]


class PatchWarning(UserWarning):
    """A patch applies with a limitation (e.g. earlier references to a C function)."""


# --- failpoint registry access (imported on first use: keeps ``import chaoskit`` light) ----


def _registry() -> Any:
    from chaoskit.failpoints import registry

    return registry


def _validate_terms(name: str, terms: str) -> None:
    from chaoskit.failpoints.terms import parse_terms

    parse_terms(terms, source=name)


def failpoint_counts(name: str) -> tuple[int, int]:
    """``(hits, firings)`` the failpoint registry counted for ``name`` so far."""
    return _registry().counts(name)  # type: ignore[no-any-return]


# --- the pieces a target is made of -------------------------------------------------------


class _AttrPatch:
    """A ``wrapt`` wrapper set on ``owner.attr``; ``undo`` restores what was there."""

    def __init__(self, owner: Any, attr: str, name: str, wrapped: Any) -> None:
        import wrapt

        from chaoskit.hooks.patch_eval import NO_VALUE, evaluate

        no_value = NO_VALUE

        def _failpoint_wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            # evaluate() is re-entrancy guarded: when the evaluation itself calls the
            # patched callable (random.Random.random, time.sleep...) it gets the original.
            value = evaluate(name)
            if value is not no_value:
                return value
            return wrapped(*args, **kwargs)

        self.owner = owner
        self.attr = attr
        self.had_own = attr in vars(owner)
        self.previous = vars(owner).get(attr)
        self.wrapper = wrapt.FunctionWrapper(wrapped, _failpoint_wrapper)
        try:
            setattr(owner, attr, self.wrapper)
        except (AttributeError, TypeError) as exc:
            raise ConfigError(
                f"cannot replace attribute {attr!r} of {owner!r}: {exc}", text=name
            ) from None

    def undo(self) -> None:
        if vars(self.owner).get(self.attr) is not self.wrapper:
            return  # someone replaced it since: leave theirs alone
        if self.had_own:
            setattr(self.owner, self.attr, self.previous)
        else:
            delattr(self.owner, self.attr)


class _Born:
    """A code object armed at import time, and the functions found running it."""

    __slots__ = ("armed_code", "func", "original")

    def __init__(self, armed_code: types.CodeType, original: types.CodeType) -> None:
        self.armed_code = armed_code
        self.original = original
        self.func: types.FunctionType | None = None

    def bind(self, func: types.FunctionType) -> _Born:
        record = _Born(self.armed_code, self.original)
        record.func = func
        return record

    @property
    def active(self) -> bool:
        return self.func is not None and self.func.__code__ is self.armed_code

    def disarm(self) -> None:
        if self.func is not None and self.func.__code__ is self.armed_code:
            self.func.__code__ = self.original


class _Target:
    """Everything applied for one failpoint name (one target text)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.name = target.name
        self.handles: list[PatchHandle] = []
        self.armed: list[Any] = []  # codeswap.Armed or _Born
        self.attr_patches: list[_AttrPatch] = []
        self.watch: Watch | None = None
        self.resolved: Resolved | None = None
        self.error: str | None = None
        self.applications = 0
        self.functions: list[types.FunctionType] = []
        self.born: dict[int, _Born] = {}  # id(armed code) -> code armed by transform()
        self.eager = False

    @property
    def status(self) -> str:
        if self.error is not None and not self.applications:
            return "unresolved"
        if self.applications:
            return "patched"
        return "never imported"

    def apply(self, module: types.ModuleType) -> None:
        """Arm what ``target`` resolves to in ``module`` (all or nothing)."""
        from chaoskit.hooks import codeswap, patch_eval

        resolved = resolve(self.target, module)
        for other in _targets.values():
            if other is self:
                continue
            clash = [f for f in resolved.functions if any(f is g for g in other.functions)]
            if clash:
                raise ConfigError(
                    f"{self.name} resolves to {resolved.where}, which is already patched "
                    f"through target {other.name!r}",
                    text=self.name,
                )
        new_armed: list[Any] = []
        new_attrs: list[_AttrPatch] = []
        try:
            if resolved.kind == "attribute":
                new_attrs.append(_AttrPatch(resolved.owner, resolved.attr, self.name, resolved.raw))
                warnings.warn(
                    f"{self.name} has no Python code ({type(resolved.raw).__name__}); it is "
                    "patched by replacing the attribute, so references taken before the patch "
                    "(e.g. 'from module import name') still call the original",
                    PatchWarning,
                    stacklevel=4,
                )
            else:
                for fn in resolved.functions:
                    if any(a.func is fn and a.active for a in self.armed):
                        continue  # already armed (applied again without a reload)
                    born = self.born.get(id(fn.__code__))
                    if born is not None and born.armed_code is fn.__code__:
                        new_armed.append(born.bind(fn))  # armed since its def ran
                    else:
                        new_armed.append(
                            codeswap.arm(
                                fn,
                                self.name,
                                evaluate=patch_eval.evaluate,
                                evaluate_async=patch_eval.evaluate_async,
                                no_value=patch_eval.NO_VALUE,
                            )
                        )
        except BaseException:
            for a in new_armed:
                a.disarm()
            for p in new_attrs:
                p.undo()
            raise
        _registry().register(self.name)  # declared by code: not "never registered"
        self.armed.extend(new_armed)
        self.attr_patches.extend(new_attrs)
        self.functions.extend(a.func for a in new_armed)
        self.resolved = resolved
        self.applications += 1
        self.error = None

    def on_import(self, module: types.ModuleType) -> None:
        """Import-hook callback: apply, or record why not (never raise into the import)."""
        with _lock:
            if not self.handles:
                return
            try:
                self.apply(module)
            except Exception as exc:
                self.error = exc.message if isinstance(exc, ConfigError) else str(exc)
                if self.eager:
                    return  # patch() raises it in the caller
                log.warning("chaoskit: cannot patch %s: %s", self.name, exc)
                warnings.warn(f"cannot patch {self.name}: {exc}", PatchWarning, stacklevel=2)

    def transform(self, code: types.CodeType) -> types.CodeType:
        """Import-hook transform: arm the target's code constant before the body runs."""
        from chaoskit.hooks.patch_code import arm_constants

        if not self.handles:
            return code
        new_code, found = arm_constants(code, {self.target.qualname: self.name})
        for original, armed in found.values():
            self.born[id(armed)] = _Born(armed, original)
        return new_code

    def remove(self) -> None:
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        for a in reversed(self.armed):
            a.disarm()
        for p in reversed(self.attr_patches):
            p.undo()
        self.born.clear()
        self.armed.clear()
        self.attr_patches.clear()
        self.functions.clear()


_lock = threading.RLock()
_targets: dict[str, _Target] = {}


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # a thread of the parent may have held it at fork time


os.register_at_fork(after_in_child=_after_fork_in_child)


class PatchHandle:
    """One applied patch: ``undo()`` (or leave the ``with`` block) to remove it."""

    def __init__(self, state: _Target, terms: str) -> None:
        self._state = state
        self.target = state.name
        self.terms = terms
        self.undone = False

    @property
    def status(self) -> str:
        """``patched``, ``never imported``, ``unresolved`` or ``undone``."""
        return "undone" if self.undone else self._state.status

    @property
    def error(self) -> str | None:
        """Why a deferred target could not be applied, if it could not."""
        return self._state.error

    @property
    def where(self) -> str | None:
        """``module:qualname`` of the patched code (the defining class for inherited methods)."""
        r = self._state.resolved
        return r.where if r is not None else None

    @property
    def kind(self) -> str | None:
        r = self._state.resolved
        return r.kind if r is not None else None

    @property
    def hits(self) -> int:
        return failpoint_counts(self.target)[0]

    @property
    def firings(self) -> int:
        return failpoint_counts(self.target)[1]

    def undo(self) -> None:
        with _lock:
            if self.undone:
                return
            self.undone = True
            state = self._state
            was_top = bool(state.handles) and state.handles[-1] is self
            if self in state.handles:
                state.handles.remove(self)
            registry = _registry()
            if state.handles:
                if was_top:
                    registry.enable(self.target, state.handles[-1].terms)
                return
            state.remove()
            registry.disable(self.target)
            if _targets.get(self.target) is state:
                del _targets[self.target]

    def __enter__(self) -> PatchHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.undo()

    def __repr__(self) -> str:
        return f"<PatchHandle {self.target!r} {self.terms!r} {self.status}>"


def patch(target: str, terms: str, *, on_import: bool = False) -> PatchHandle:
    """Apply failpoint ``terms`` to the function named by ``target`` (``"pkg.mod:Qual.name"``).

    The module is imported if it is not yet (like :func:`unittest.mock.patch`), unless
    ``on_import`` is true: then the patch applies now if the module is already imported and
    otherwise when it is first imported (through the import hook). Either way it is applied
    again after ``importlib.reload``. A module imported through the hook has the target
    armed from the moment its ``def`` runs, so calls made by the module body count too.

    Raises :class:`~chaoskit.errors.ConfigError` naming the target for a malformed target,
    a module that does not exist, a name that does not resolve or terms that do not parse;
    nothing is changed in that case.
    """
    t = parse_target(target)
    if t.module == "chaoskit" or t.module.startswith("chaoskit."):
        raise ConfigError(
            "chaoskit's own code cannot be patched (it evaluates the patches)", text=t.name
        )
    _validate_terms(t.name, terms)
    registry = _registry()
    with _lock:
        state = _targets.get(t.name)
        if state is not None:
            handle = PatchHandle(state, terms)
            state.handles.append(handle)
            registry.enable(t.name, terms)
            return handle
        state = _Target(t)
        handle = PatchHandle(state, terms)
        module = sys.modules.get(t.module)
        try:
            if module is not None:
                try:
                    state.apply(module)
                except ConfigError as exc:
                    # At start-up (sitecustomize, ``import chaoskit`` reading the
                    # environment) ``__main__`` is still empty: its program has not run.
                    if not (on_import and t.module == "__main__"):
                        raise
                    state.error = exc.message
            state.handles.append(handle)
            _targets[t.name] = state
            registry.enable(t.name, terms)
            state.watch = when_imported(
                t.module, state.on_import, now=False, transform=state.transform
            )
        except BaseException:
            _rollback(state)
            raise
    if module is None and not on_import:
        # Import outside the lock: another thread may be importing it and need the lock
        # in the hook callback.
        state.eager = True
        try:
            _import(t)
            if not state.applications:
                raise ConfigError(state.error or "target does not resolve", text=t.name)
        except BaseException:
            with _lock:
                _rollback(state)
            raise
        finally:
            state.eager = False
    return handle


def _rollback(state: _Target) -> None:
    """Undo a patch that failed half-way (caller holds the lock)."""
    state.handles.clear()
    state.remove()
    if _targets.get(state.name) is state:
        del _targets[state.name]
        _registry().disable(state.name)


def patch_on_import(target: str, terms: str) -> PatchHandle:
    """:func:`patch` with ``on_import=True``: for targets in modules not imported yet."""
    return patch(target, terms, on_import=True)


def _import(t: Target) -> types.ModuleType:
    try:
        return importlib.import_module(t.module)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"module {t.module!r} not found ({exc.name!r} is missing)", text=t.name
        ) from None


def active_patches() -> list[PatchHandle]:
    """Every live patch, oldest target first."""
    with _lock:
        return [h for state in _targets.values() for h in state.handles]


def target_states() -> list[dict[str, Any]]:
    """A snapshot per patched target: name, terms, status, where, error (for reports)."""
    with _lock:
        out = []
        for state in _targets.values():
            out.append(
                {
                    "target": state.name,
                    "terms": state.handles[-1].terms if state.handles else None,
                    "status": state.status,
                    "where": state.resolved.where if state.resolved else None,
                    "kind": state.resolved.kind if state.resolved else None,
                    "error": state.error,
                }
            )
        return out
