"""Target resolution: from ``"pkg.mod:Qual.name"`` to the objects a patch must change.

A target names a module and a dotted qualified name inside it. Resolution reads
``vars()`` of modules and classes (walking the MRO for classes) instead of ``getattr``, so
methods are found unbound, as they are stored, and inherited methods are found where they
are defined. It then looks through what decorators leave behind (``__wrapped__``, closure
cells, :class:`functools.partial`) for the original Python function.

Nothing here changes anything: the patcher acts on the :class:`Resolved` result.
"""

from __future__ import annotations

import functools
import re
import types

from chaoskit._frozen import Frozen
from chaoskit.errors import ConfigError

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Resolved", "Target", "parse_target", "resolve"]

_IDENT = r"[A-Za-z_][A-Za-z_0-9]*"
_TARGET_RE = re.compile(
    rf"^(?P<module>{_IDENT}(?:\.{_IDENT})*):(?P<qualname>{_IDENT}(?:\.{_IDENT})*)$"
)

# Python-level callables whose code object can be swapped.
_FUNCTION = types.FunctionType
_UNWRAP_DEPTH = 8


class Target(Frozen):
    """A parsed function target: ``module:qualname``."""

    __slots__ = ("module", "qualname")
    _fields = ("module", "qualname")
    module: str
    qualname: str

    def __init__(self, module: str, qualname: str) -> None:
        self._set(module=module, qualname=qualname)

    @property
    def name(self) -> str:
        return f"{self.module}:{self.qualname}"

    def __str__(self) -> str:
        return self.name


def is_target(name: str) -> bool:
    """True when ``name`` names a function target (contains ``:``) rather than a failpoint."""
    return ":" in name


def parse_target(text: str, *, source: str | None = None) -> Target:
    """Parse ``"pkg.mod:Qual.name"``; a :class:`ConfigError` names the text otherwise."""
    stripped = text.strip()
    if "<locals>" in stripped:
        raise ConfigError(
            "function targets inside function bodies (<locals>) cannot be patched; "
            "patch the enclosing function instead",
            text=text,
            source=source,
        )
    m = _TARGET_RE.match(stripped)
    if m is None:
        if ":" not in stripped:
            msg = "a function target needs the form 'package.module:Qualified.name'"
            pos = None
        else:
            msg = "malformed function target (expected 'package.module:Qualified.name')"
            pos = _first_bad(stripped)
        raise ConfigError(msg, text=text, position=pos, source=source)
    return Target(m.group("module"), m.group("qualname"))


def _first_bad(text: str) -> int:
    module, _, qual = text.partition(":")
    for offset, part, sep in ((0, module, "."), (len(module) + 1, qual, ".")):
        pos = offset
        for piece in part.split(sep):
            if not re.fullmatch(_IDENT, piece):
                return pos
            pos += len(piece) + 1
    return len(module)


class Resolved(Frozen):
    """What a target resolved to.

    ``owner``/``attr``: where the attribute is set when the patch wraps the attribute
    (C callables); ``defined_in`` is the object whose ``vars()`` holds ``raw`` (a base
    class for inherited methods). ``functions`` are the Python functions whose code a patch
    swaps, already unwrapped from decorators; empty for ``kind == "attribute"``.
    """

    __slots__ = ("attr", "defined_in", "functions", "kind", "owner", "raw", "target")
    _fields = ("target", "kind", "owner", "attr", "defined_in", "raw", "functions")
    target: Target
    kind: str  # function | method | classmethod | staticmethod | property | attribute
    owner: Any
    attr: str
    defined_in: Any
    raw: Any
    functions: tuple[types.FunctionType, ...]

    def __init__(
        self,
        target: Target,
        kind: str,
        owner: Any,
        attr: str,
        defined_in: Any,
        raw: Any,
        functions: tuple[types.FunctionType, ...],
    ) -> None:
        self._set(
            target=target,
            kind=kind,
            owner=owner,
            attr=attr,
            defined_in=defined_in,
            raw=raw,
            functions=functions,
        )

    @property
    def where(self) -> str:
        """``module:qualname`` where the patched code lives (differs for inherited methods)."""
        if self.functions:
            fn = self.functions[0]
            return f"{fn.__module__}:{fn.__qualname__}"
        owner = self.defined_in
        if isinstance(owner, types.ModuleType):
            return f"{owner.__name__}:{self.attr}"
        return f"{owner.__module__}:{owner.__qualname__}.{self.attr}"


def _lookup(obj: Any, name: str) -> tuple[Any, Any]:
    """``(value, defined_in)`` for ``name`` read from ``vars()`` (along the MRO for classes)."""
    if isinstance(obj, type):
        for klass in obj.__mro__:
            d = vars(klass)
            if name in d:
                return d[name], klass
        raise KeyError(name)
    if isinstance(obj, types.ModuleType):
        namespace = vars(obj)
        if name in namespace:
            return namespace[name], obj
        # a module-level __getattr__ (PEP 562) may provide it
        try:
            return getattr(obj, name), obj
        except AttributeError:
            raise KeyError(name) from None
    try:
        return getattr(obj, name), obj
    except AttributeError:
        raise KeyError(name) from None


def resolve(target: Target, module: types.ModuleType, *, source: str | None = None) -> Resolved:
    """Resolve ``target`` inside the already-imported ``module``."""
    parts = target.qualname.split(".")
    obj: Any = module
    walked = target.module
    for part in parts[:-1]:
        try:
            obj, _ = _lookup(obj, part)
        except KeyError:
            raise ConfigError(
                f"{walked!s} has no attribute {part!r} (target does not resolve)",
                text=target.name,
                source=source,
            ) from None
        walked = f"{walked}{':' if walked == target.module else '.'}{part}"
    attr = parts[-1]
    try:
        raw, defined_in = _lookup(obj, attr)
    except KeyError:
        raise ConfigError(
            f"{walked!s} has no attribute {attr!r} (target does not resolve)",
            text=target.name,
            source=source,
        ) from None
    return _classify(target, obj, attr, raw, defined_in, source)


def _classify(
    target: Target, owner: Any, attr: str, raw: Any, defined_in: Any, source: str | None
) -> Resolved:
    in_class = isinstance(owner, type)
    kind: str
    inner: Any
    if isinstance(raw, classmethod):
        kind, inner = "classmethod", raw.__func__
    elif isinstance(raw, staticmethod):
        kind, inner = "staticmethod", raw.__func__
    elif isinstance(raw, property):
        if raw.fget is None:
            raise ConfigError("property has no getter to patch", text=target.name, source=source)
        kind, inner = "property", raw.fget
    elif isinstance(raw, type):
        raise ConfigError(
            f"{target.name} is a class; patch one of its methods (e.g. "
            f"'{target.name}.__init__') instead",
            text=target.name,
            source=source,
        )
    elif isinstance(raw, types.ModuleType):
        raise ConfigError(
            f"{target.name} is a module, not a function", text=target.name, source=source
        )
    elif not callable(raw) and not isinstance(raw, functools.partialmethod):
        raise ConfigError(
            f"{target.name} is not callable (it is a {type(raw).__name__})",
            text=target.name,
            source=source,
        )
    else:
        kind, inner = ("method" if in_class else "function"), raw
    original = _find_original(inner, _expected_qualname(defined_in, attr))
    if original is None:
        if kind in ("classmethod", "staticmethod", "property"):
            raise ConfigError(
                f"{target.name} wraps a callable without Python code "
                f"({type(inner).__name__}); it cannot be patched",
                text=target.name,
                source=source,
            )
        return Resolved(target, "attribute", owner, attr, defined_in, raw, ())
    return Resolved(target, kind, owner, attr, defined_in, raw, (original,))


def _expected_qualname(defined_in: Any, attr: str) -> str:
    if isinstance(defined_in, type):
        return f"{defined_in.__qualname__}.{attr}"
    return attr


def _children(obj: Any) -> list[Any]:
    """What a decorator may have hidden the original in."""
    out: list[Any] = []
    wrapped = _safe_getattr(obj, "__wrapped__")
    if wrapped is not None:
        out.append(wrapped)
    if isinstance(obj, functools.partial | functools.partialmethod):
        out.append(obj.func)
    if isinstance(obj, types.MethodType):
        out.append(obj.__func__)
    if isinstance(obj, classmethod | staticmethod):
        out.append(obj.__func__)
    if isinstance(obj, _FUNCTION) and obj.__closure__:
        for cell in obj.__closure__:
            try:
                value = cell.cell_contents
            except ValueError:  # empty cell
                continue
            if callable(value) or isinstance(value, classmethod | staticmethod):
                out.append(value)
    return out


def _safe_getattr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _find_original(start: Any, expected_qualname: str) -> types.FunctionType | None:
    """The Python function to arm: the one named ``expected_qualname`` if a decorator hid
    it, else the outermost Python function reachable from ``start``."""
    seen: set[int] = set()
    frontier = [start]
    first_function: types.FunctionType | None = None
    for _ in range(_UNWRAP_DEPTH):
        nxt: list[Any] = []
        for obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, _FUNCTION):
                # the code's own qualname: functools.wraps copies __qualname__ to wrappers
                if obj.__code__.co_qualname == expected_qualname:
                    return obj
                if first_function is None:
                    first_function = obj
            nxt.extend(_children(obj))
        if not nxt:
            break
        frontier = nxt
    return first_function
