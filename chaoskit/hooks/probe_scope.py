"""What the probe watches: scopes parsed from text and resolved to code objects.

A scope is a module (with its submodules) ``"myapp.saga"``, a class ``"myapp.saga:Saga"``
(its methods, properties and nested classes) or one function ``"myapp.jobs:retry"``.
Resolution walks modules and classes by ``vars()``, looks through what decorators leave
behind (``__wrapped__``, ``functools.partial``, static and class methods, properties) and
then through nested code constants, so closures and inner functions created later are
covered too: they share the code object of their definition.

Each code object is named ``"module:qualname"``, the key of ``Probe.max_depths``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass

from chaoskit.errors import ConfigError

__all__ = [
    "Scope",
    "code_name",
    "parse_scope",
    "resolve_code",
    "resolve_module",
    "resolve_scope",
]

_IDENT = r"[A-Za-z_][A-Za-z_0-9]*"
_DOTTED = rf"{_IDENT}(?:\.{_IDENT})*"
_SCOPE_RE = re.compile(rf"^(?P<module>{_DOTTED})(?::(?P<qualname>{_DOTTED}))?$")
_UNWRAP_LIMIT = 16


@dataclass(frozen=True, slots=True)
class Scope:
    """A parsed scope: ``module`` alone, or ``module:qualname`` (a class or a function)."""

    module: str
    qualname: str | None = None

    @property
    def text(self) -> str:
        return self.module if self.qualname is None else f"{self.module}:{self.qualname}"

    def watches(self, module_name: str) -> bool:
        """True if importing ``module_name`` can bring code of this scope."""
        if self.qualname is not None:
            return module_name == self.module
        return module_name == self.module or module_name.startswith(self.module + ".")

    def __str__(self) -> str:
        return self.text


def parse_scope(text: object) -> Scope:
    """Parse a scope string; a :class:`ConfigError` names the text and the bad position."""
    if not isinstance(text, str):
        raise ConfigError(
            f"a probe scope must be a string like 'pkg.module' or 'pkg.module:Class.method', "
            f"not {type(text).__name__}",
            text=repr(text),
        )
    stripped = text.strip()
    match = _SCOPE_RE.match(stripped)
    if match is None:
        raise ConfigError(
            "malformed probe scope (expected 'pkg.module', 'pkg.module:Class' or "
            "'pkg.module:function')",
            text=text,
            position=_first_bad(text),
        )
    return Scope(match.group("module"), match.group("qualname"))


def _first_bad(text: str) -> int:
    """0-based position of the first character that breaks the grammar."""
    if not text.strip():
        return 0
    lead = len(text) - len(text.lstrip())
    module, colon, qualname = text.strip().partition(":")
    pos = lead
    for part, base in ((module, lead), (qualname, lead + len(module) + 1)):
        if part is qualname and not colon:
            break
        pos = base
        for piece in part.split("."):
            if not re.fullmatch(_IDENT, piece):
                bad = next((i for i, ch in enumerate(piece) if not (ch.isalnum() or ch == "_")), 0)
                if piece and piece[0].isdigit():
                    bad = 0
                return pos + bad
            pos += len(piece) + 1
    return min(pos, len(text))


def check_importable(scope: Scope) -> None:
    """Raise :class:`ConfigError` when the scope's module cannot be found at all."""
    if scope.module in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(scope.module)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"probe scope names a module that cannot be found ({exc})", text=scope.text
        ) from None
    if spec is None:
        raise ConfigError(
            f"probe scope names no module: no module named {scope.module!r}", text=scope.text
        )


# --- walking objects to code ------------------------------------------------------------


def _unwrap_once(obj: object) -> object | None:
    """One step through a decorator or descriptor, or None when there is nothing inside."""
    if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
        return obj.__func__
    if isinstance(obj, (functools.partial, functools.cached_property)):
        return obj.func
    if isinstance(obj, type):
        return None
    try:
        return getattr(obj, "__wrapped__", None)
    except Exception:  # a proxy that refuses attribute access
        return None


def _functions_of(obj: object) -> Iterator[types.FunctionType]:
    """Python functions reachable from one attribute value: the value and what it wraps."""
    if isinstance(obj, property):
        for accessor in (obj.fget, obj.fset, obj.fdel):
            if accessor is not None:
                yield from _functions_of(accessor)
        return
    current: object | None = obj
    for _ in range(_UNWRAP_LIMIT):
        if current is None:
            return
        if isinstance(current, types.FunctionType):
            yield current
        nxt = _unwrap_once(current)
        if nxt is current:
            return
        current = nxt


def _nested_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested_codes(const)


def _class_codes(
    cls: type, seen: set[int], functions: list[types.FunctionType] | None = None
) -> Iterator[types.CodeType]:
    if id(cls) in seen:
        return
    seen.add(id(cls))
    prefix = cls.__qualname__ + "."
    for value in list(vars(cls).values()):
        if isinstance(value, type):
            if value.__qualname__.startswith(prefix) and value.__module__ == cls.__module__:
                yield from _class_codes(value, seen, functions)
            continue
        for fn in _functions_of(value):
            if fn.__code__.co_qualname.startswith(prefix):
                if functions is not None:
                    functions.append(fn)
                yield from _nested_codes(fn.__code__)


def _module_file(module: types.ModuleType) -> str | None:
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return None
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    return origin if isinstance(origin, str) else file


def _module_codes(
    module: types.ModuleType, functions: list[types.FunctionType] | None = None
) -> Iterator[types.CodeType]:
    """Every code object defined in ``module``'s own source file."""
    file = _module_file(module)
    seen_classes: set[int] = set()
    for value in list(vars(module).values()):
        if isinstance(value, type):
            if value.__module__ != module.__name__:
                continue
            for code in _class_codes(value, seen_classes, functions):
                if file is None or code.co_filename == file:
                    yield code
            continue
        for fn in _functions_of(value):
            code = fn.__code__
            if file is not None and code.co_filename != file:
                continue
            if file is None and fn.__module__ != module.__name__:
                continue
            if functions is not None:
                functions.append(fn)
            yield from _nested_codes(code)


def resolve_module(
    scope: Scope, module: types.ModuleType, functions: list[types.FunctionType] | None = None
) -> dict[types.CodeType, str]:
    """Code objects of ``scope`` found in the (imported) ``module``, with their names.

    The function objects found are appended to ``functions`` (to notice later code swaps).
    Raises :class:`ConfigError` when a class or function scope names nothing in it.
    """
    name = module.__name__
    if scope.qualname is None:
        return {code: f"{name}:{code.co_qualname}" for code in _module_codes(module, functions)}
    obj: object = module
    for part in scope.qualname.split("."):
        holder = obj
        try:
            obj = vars(holder)[part] if isinstance(holder, type) else getattr(holder, part)
        except (KeyError, AttributeError, TypeError):
            found = None
            if isinstance(holder, type):
                for base in holder.__mro__[1:]:
                    if part in vars(base):
                        found = vars(base)[part]
                        break
            if found is None:
                raise ConfigError(
                    f"probe scope names nothing: module {name!r} has no {scope.qualname!r}",
                    text=scope.text,
                ) from None
            obj = found
    if isinstance(obj, type):
        codes = dict.fromkeys(_class_codes(obj, set(), functions), "")
    else:
        fns = list(_functions_of(obj))
        if not fns:
            raise ConfigError(
                f"probe scope is neither a class nor a Python function "
                f"(found {type(obj).__name__})",
                text=scope.text,
            )
        # one function means its own code only, not closures or comprehensions inside it
        codes = {fns[-1].__code__: ""}
        if functions is not None:
            functions.append(fns[-1])
    return {code: f"{name}:{code.co_qualname}" for code in codes}


_CO_OPTIMIZED = 0x1  # set on function code, not on module or class bodies


def resolve_code(scope: Scope, code: types.CodeType) -> dict[types.CodeType, str]:
    """Code objects of ``scope`` inside the code of a module that has not run yet.

    For a program about to run as ``__main__`` (the instrument wrapper), whose functions
    do not exist yet: a module scope is every function's code in it, a class scope the
    code of the functions defined in the class body, a function scope its own code.
    Raises :class:`ConfigError` when a class or function scope names nothing in it.
    """
    if scope.qualname is None:
        codes = [c for c in _nested_codes(code) if c.co_flags & _CO_OPTIMIZED]
    else:
        named = [c for c in _nested_codes(code) if c.co_qualname == scope.qualname]
        if not named:
            raise ConfigError(
                f"probe scope names nothing: module {scope.module!r} has no {scope.qualname!r}",
                text=scope.text,
            )
        codes = []
        for found in named:
            if found.co_flags & _CO_OPTIMIZED:
                codes.append(found)  # a function: its own code only, as resolve_module
            else:  # a class body: the functions defined in it
                codes += [c for c in _nested_codes(found) if c.co_flags & _CO_OPTIMIZED]
    return {c: f"{scope.module}:{c.co_qualname}" for c in codes}


def resolve_scope(
    scope: Scope, functions: list[types.FunctionType] | None = None
) -> dict[types.CodeType, str]:
    """Resolve against the modules already imported (none yet is fine: import picks up)."""
    found: dict[types.CodeType, str] = {}
    for mod_name, module in list(sys.modules.items()):
        if module is None or not scope.watches(mod_name):
            continue
        if not isinstance(module, types.ModuleType):
            continue
        found.update(resolve_module(scope, module, functions))
    return found


_FILE_MODULES: dict[str, str] = {}


def code_name(code: types.CodeType) -> str:
    """``"module:qualname"`` for any code object (used for code found by the sampler)."""
    file = code.co_filename
    mod = _FILE_MODULES.get(file)
    if mod is None:
        for mod_name, module in list(sys.modules.items()):
            if isinstance(module, types.ModuleType) and _module_file(module) == file:
                mod = mod_name
                break
        else:
            mod = file.rsplit("/", 1)[-1].removesuffix(".py")
        _FILE_MODULES[file] = mod
    return f"{mod}:{code.co_qualname}"
