"""Run callbacks when a module is imported (or reloaded): one finder, first in ``sys.meta_path``.

The finder answers only for modules somebody watches; for those it asks the *other*
finders on ``sys.meta_path`` for the real spec (never ``importlib.util.find_spec``, which
would re-enter the import system under the import lock) and puts a thin proxy in front of
the real loader. The proxy puts the real loader back on the spec and the module before the
module body runs, so the module sees exactly what it would see without chaoskit, then calls
the watchers after the body has run. A watch may also transform the module's code object
before the body runs (for source and bytecode files: the loader's ``get_code`` is called
and the result executed, which is all those loaders' ``exec_module`` does). ``importlib.reload`` goes through the same path, so
watchers run again for the new objects. Namespace packages (no loader) get the
``NamespaceLoader`` importlib would have given them.

The finder is inserted when the first watch starts and removed when the last one ends,
leaving ``sys.meta_path`` as it was. Callbacks run outside the hook's lock; an exception in
a callback is logged and never reaches the importing code.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import threading
import types
from importlib.machinery import ModuleSpec

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Sequence
    from typing import Any

    Callback = Callable[[types.ModuleType], None]
    Transform = Callable[[types.CodeType], types.CodeType]

__all__ = ["ImportHook", "Watch", "hook", "when_imported"]


class _LazyLogger:
    """``logging.getLogger(name)``, importing logging only when something is logged."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import logging

        return getattr(logging.getLogger(self._name), attr)


if TYPE_CHECKING:
    log: logging.Logger
else:
    log = _LazyLogger("chaoskit.hooks")  # logging loads only when used (start-up time)


# Loaders whose exec_module is exactly "exec(self.get_code(name), module.__dict__)": for
# these a watch may transform the module's code before it runs.
_CODE_LOADERS = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)


class Watch:
    """One registered callback; ``cancel()`` (or leaving the ``with`` block) removes it."""

    __slots__ = ("_hook", "callback", "fired", "module", "transform")

    def __init__(
        self, hook: ImportHook, module: str, callback: Callback, transform: Transform | None = None
    ) -> None:
        self._hook = hook
        self.module = module
        self.callback = callback
        self.transform = transform
        self.fired = 0

    @property
    def active(self) -> bool:
        return self._hook._has(self)

    def cancel(self) -> None:
        self._hook._remove(self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def __repr__(self) -> str:
        return f"<Watch {self.module!r} fired={self.fired}>"


class _ChainedLoader:
    """Stands in for the real loader of a watched module between find and exec."""

    def __init__(self, loader: Any, hook: ImportHook, name: str, namespace: bool = False) -> None:
        self._chaoskit_loader = loader
        self._chaoskit_hook = hook
        self._chaoskit_name = name
        self._chaoskit_namespace = namespace

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._chaoskit_loader, attr)

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        create = getattr(self._chaoskit_loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: types.ModuleType) -> None:
        real = self._chaoskit_loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = real
        module.__loader__ = real
        if self._chaoskit_namespace and not hasattr(module, "__file__"):
            module.__file__ = None  # what importlib does for namespace packages
        transforms = self._chaoskit_hook._transforms(self._chaoskit_name)
        if transforms and isinstance(real, _CODE_LOADERS):
            code = real.get_code(module.__name__)
            if code is None:
                raise ImportError(f"cannot load module {module.__name__!r}", name=module.__name__)
            exec(_transformed(code, transforms, module.__name__), module.__dict__)
        else:
            real.exec_module(module)
        self._chaoskit_hook._fire(self._chaoskit_name, module)

    def __repr__(self) -> str:
        return f"<chaoskit chained loader for {self._chaoskit_loader!r}>"


def _transformed(code: types.CodeType, transforms: list[Transform], name: str) -> types.CodeType:
    for transform in transforms:
        try:
            code = transform(code)
        except Exception:
            log.exception("chaoskit import hook: transforming %s failed; ignored", name)
    return code


def _namespace_loader(spec: ModuleSpec) -> Any:
    """The loader importlib gives a namespace package whose spec has none."""
    loader_cls = importlib.machinery.NamespaceLoader
    loader = loader_cls.__new__(loader_cls)
    loader._path = spec.submodule_search_locations  # type: ignore[attr-defined]
    return loader


class ImportHook:
    """A meta-path finder that calls watchers after a watched module's body has run."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._watches: dict[str, list[Watch]] = {}
        self._local = threading.local()

    # --- the finder protocol -----------------------------------------------------------

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname not in self._watches:
            return None
        busy: set[str] = self._local.__dict__.setdefault("busy", set())
        if fullname in busy:
            return None
        busy.add(fullname)
        try:
            spec = self._real_spec(fullname, path, target)
        finally:
            busy.discard(fullname)
        if spec is None:
            return None
        loader = spec.loader
        namespace = False
        if loader is None:
            if spec.submodule_search_locations is None:
                return spec
            loader = _namespace_loader(spec)
            namespace = True
        elif not hasattr(loader, "exec_module"):
            return spec  # a legacy loader: leave it alone
        spec.loader = _ChainedLoader(loader, self, fullname, namespace)  # type: ignore[assignment]
        return spec

    def _real_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None
    ) -> ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec: ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        pass

    # --- watches -------------------------------------------------------------------------

    def watch(
        self,
        module: str,
        callback: Callback,
        *,
        now: bool = True,
        transform: Transform | None = None,
    ) -> Watch:
        """Call ``callback(module)`` each time ``module`` is imported or reloaded.

        With ``now`` (the default) and the module already imported, the callback also runs
        immediately, in the caller's thread, and its exceptions propagate to the caller.
        ``transform(code) -> code`` rewrites the module's code object before its body runs
        (source and bytecode-only modules; other loaders run unchanged).
        """
        w = Watch(self, module, callback, transform)
        with self._lock:
            self._watches.setdefault(module, []).append(w)
            self._install()
        if now:
            existing = sys.modules.get(module)
            if existing is not None:
                try:
                    w.fired += 1
                    callback(existing)
                except BaseException:
                    self._remove(w)
                    raise
        return w

    def _transforms(self, name: str) -> list[Transform]:
        with self._lock:
            return [w.transform for w in self._watches.get(name, ()) if w.transform is not None]

    def _has(self, w: Watch) -> bool:
        with self._lock:
            return w in self._watches.get(w.module, ())

    def _remove(self, w: Watch) -> None:
        with self._lock:
            lst = self._watches.get(w.module)
            if lst is not None and w in lst:
                lst.remove(w)
                if not lst:
                    del self._watches[w.module]
            if not self._watches:
                self._uninstall()

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._watches)

    @property
    def installed(self) -> bool:
        return any(f is self for f in sys.meta_path)

    def _install(self) -> None:
        if not self.installed:
            sys.meta_path.insert(0, self)

    def _uninstall(self) -> None:
        while self.installed:
            for i, f in enumerate(sys.meta_path):
                if f is self:
                    del sys.meta_path[i]
                    break

    def _fire(self, name: str, module: types.ModuleType) -> None:
        with self._lock:
            watches = list(self._watches.get(name, ()))
        for w in watches:  # outside the lock: a callback may import or watch
            w.fired += 1
            try:
                w.callback(module)
            except Exception:
                log.exception("chaoskit import hook callback for %s failed; ignored", name)

    def __repr__(self) -> str:
        return f"<chaoskit ImportHook watching {self.watched()}>"


hook = ImportHook()
"""The process-wide hook (one finder per process)."""


def _after_fork_in_child() -> None:
    hook._lock = threading.RLock()  # a parent thread may have held it at fork time


os.register_at_fork(after_in_child=_after_fork_in_child)


def when_imported(
    module: str, callback: Callback, *, now: bool = True, transform: Transform | None = None
) -> Watch:
    """Call ``callback(module_object)`` when ``module`` is imported or reloaded.

    Returns a :class:`Watch`; ``cancel()`` it to stop. See :meth:`ImportHook.watch`.
    """
    return hook.watch(module, callback, now=now, transform=transform)
