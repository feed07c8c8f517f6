"""The zero-cost failpoint mechanism: swap a function's ``__code__`` for an armed twin.

:func:`arm` builds a copy of ``func.__code__`` whose body starts with a small prologue::

    value = evaluate(name)            # or: value = await evaluate_async(name)
    if value is not NO_VALUE:
        return value                  # async generators just stop
    <the original body, unchanged>

and installs it on the *existing* function object, so every reference to the function
(``from x import f``, bound methods, registries, decorators that kept ``f``) sees it.
:meth:`Armed.disarm` puts back the identical original code object, so a disarmed function
costs exactly what it cost before.

The prologue is not written by hand for each CPython: a template function of the same
kind (plain, generator, coroutine, async generator) is compiled on the running
interpreter and its instructions for ``evaluate(name)`` / ``await evaluate_async(name)``
are spliced in with the ``bytecode`` library, together with the exception-table entries
that ``await`` needs on 3.12+. Generators and async generators evaluate at their first
resumption (the prologue follows ``RESUME``), like any first line of their body.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from bytecode import Bytecode, Instr, Label
from bytecode.instr import InstrLocation, TryBegin, TryEnd

__all__ = ["Armed", "arm", "build_armed_code", "is_armed", "kind_of"]

_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200
_CO_ITERABLE_COROUTINE = 0x100

_TEMPLATES = {
    "function": "def _t(_EVAL, _NAME):\n    _EVAL(_NAME)\n    _MARK\n",
    "generator": "def _t(_EVAL, _NAME):\n    _EVAL(_NAME)\n    _MARK\n    yield\n",
    "coroutine": "async def _t(_EVAL, _NAME):\n    await _EVAL(_NAME)\n    _MARK\n",
    "async_generator": "async def _t(_EVAL, _NAME):\n    await _EVAL(_NAME)\n    _MARK\n    yield\n",
}
_template_cache: dict[str, types.CodeType] = {}
_RETURNS = frozenset({"RETURN_VALUE", "RETURN_CONST"})
_JUMP_IF_TRUE = "POP_JUMP_FORWARD_IF_TRUE" if sys.version_info < (3, 12) else "POP_JUMP_IF_TRUE"

# One lock for every swap: arming and disarming the same function from two threads
# must not interleave.
_lock = threading.RLock()
# id(function) -> what is armed on it (the records keep the function alive).
_slots: dict[int, _Slot] = {}


def kind_of(code: types.CodeType) -> str:
    """``function``, ``generator``, ``coroutine`` or ``async_generator``."""
    flags = code.co_flags
    if flags & _CO_ASYNC_GENERATOR:
        return "async_generator"
    if flags & _CO_COROUTINE:
        return "coroutine"
    if flags & _CO_GENERATOR:
        return "generator"
    return "function"


def _template(kind: str) -> types.CodeType:
    code = _template_cache.get(kind)
    if code is None:
        namespace: dict[str, Any] = {}
        exec(compile(_TEMPLATES[kind], "<chaoskit-failpoint>", "exec"), namespace)
        code = namespace["_t"].__code__
        _template_cache[kind] = code
    return code


def _first_resume(items: list[Any]) -> int:
    for i, ins in enumerate(items):
        if isinstance(ins, Instr) and ins.name == "RESUME" and ins.arg == 0:
            return i
    raise RuntimeError("code object has no RESUME 0 instruction")


def _global_name(ins: Instr) -> object:
    arg: Any = ins.arg
    return arg[1] if isinstance(arg, tuple) else arg


def _outer_try(items: list[Any], resume: int) -> TryBegin | None:
    """The try block open at the function's RESUME (3.12+ generator wrapper), if any."""
    found: TryBegin | None = None
    for ins in items[:resume]:
        if isinstance(ins, TryBegin):
            found = ins
        elif isinstance(ins, TryEnd) and found is not None and ins.entry is found:
            found = None
    return found


def _prologue(
    kind: str, evaluator: Callable[..., Any], name: str, no_value: object, lineno: int
) -> tuple[list[Any], list[Any], list[Any], TryBegin | None]:
    """Template instructions: (segment, handler tail, template, template outer try)."""
    tb = Bytecode.from_code(_template(kind))
    items: list[Any] = list(tb)
    resume = _first_resume(items)
    mark = next(
        i
        for i, ins in enumerate(items)
        if isinstance(ins, Instr) and ins.name == "LOAD_GLOBAL" and _global_name(ins) == "_MARK"
    )
    segment = items[resume + 1 : mark]
    last = segment.pop()
    if not (isinstance(last, Instr) and last.name == "POP_TOP"):
        raise RuntimeError(f"unexpected template shape ending in {last!r}")
    ret = next(
        i
        for i in range(mark, len(items))
        if isinstance(items[i], Instr) and items[i].name in _RETURNS
    )
    t_outer = _outer_try(items, resume)
    tail = items[ret + 1 :]
    if t_outer is not None and t_outer.target in tail:
        tail = tail[: tail.index(t_outer.target)]
    # The end of the template's generator wrapper is not part of the await handler.
    tail = [ins for ins in tail if not (isinstance(ins, TryEnd) and ins.entry is t_outer)]
    if kind in ("function", "generator"):
        tail = []
    where = InstrLocation(lineno, lineno, None, None)
    replaced: list[Any] = []
    for ins in segment:
        if isinstance(ins, Instr):
            if ins.name == "LOAD_FAST" and ins.arg == "_EVAL":
                ins = Instr("LOAD_CONST", evaluator)
            elif ins.name == "LOAD_FAST" and ins.arg == "_NAME":
                ins = Instr("LOAD_CONST", name)
            elif ins.name.startswith("LOAD_FAST"):
                raise RuntimeError(f"unexpected template instruction {ins!r}")
            ins.location = where
        replaced.append(ins)
    for ins in tail:
        if isinstance(ins, Instr):
            ins.location = where
    # The value test, identical on every supported version.
    skip = Label()
    test: list[Any] = [
        Instr("COPY", 1, location=where),
        Instr("LOAD_CONST", no_value, location=where),
        Instr("IS_OP", 0, location=where),
        Instr(_JUMP_IF_TRUE, skip, location=where),
    ]
    if kind == "async_generator":
        # An async generator cannot return a value: a fired value just ends it.
        test += [
            Instr("POP_TOP", location=where),
            Instr("LOAD_CONST", None, location=where),
        ]
    test += [Instr("RETURN_VALUE", location=where), skip, Instr("POP_TOP", location=where)]
    return replaced + test, tail, items, t_outer


def build_armed_code(
    code: types.CodeType,
    name: str,
    evaluate: Callable[[str], object],
    evaluate_async: Callable[[str], Any],
    no_value: object,
) -> types.CodeType:
    """A copy of ``code`` that evaluates failpoint ``name`` at entry (see module doc)."""
    kind = kind_of(code)
    if code.co_flags & _CO_ITERABLE_COROUTINE:
        kind = "generator"
    evaluator = evaluate_async if kind in ("coroutine", "async_generator") else evaluate
    lineno = code.co_firstlineno
    segment, tail, _, t_outer = _prologue(kind, evaluator, name, no_value, lineno)

    fb = Bytecode.from_code(code)
    items: list[Any] = list(fb)
    resume = _first_resume(items)
    f_outer = _outer_try(items, resume)
    if (t_outer is None) != (f_outer is None):
        raise RuntimeError(f"cannot instrument {code.co_qualname}: unexpected code layout")

    # Re-target the template's try blocks: its generator wrapper becomes the target's.
    mapping: dict[int, TryBegin] = {}
    new_segment: list[Any] = []
    open_block: TryBegin | None = f_outer
    for ins in segment:
        if isinstance(ins, TryBegin):
            if t_outer is not None and f_outer is not None and ins.target is t_outer.target:
                new = TryBegin(f_outer.target, ins.push_lasti, ins.stack_depth)
            else:
                new = ins
            mapping[id(ins)] = new
            open_block = new
            new_segment.append(new)
        elif isinstance(ins, TryEnd):
            if t_outer is not None and f_outer is not None and ins.entry is t_outer:
                entry = f_outer
            else:
                entry = mapping.get(id(ins.entry), ins.entry)
            new_segment.append(TryEnd(entry))
            open_block = None
        else:
            new_segment.append(ins)
    if open_block is not f_outer:
        # The block left open by the prologue now covers the body in place of f_outer.
        if open_block is None or f_outer is None:
            raise RuntimeError(f"cannot instrument {code.co_qualname}: unbalanced try blocks")
        for ins in items[resume + 1 :]:
            if isinstance(ins, TryEnd) and ins.entry is f_outer:
                ins.entry = open_block
                break
        else:
            raise RuntimeError(f"cannot instrument {code.co_qualname}: outer block not closed")

    new_tail: list[Any] = []
    begun: set[int] = set()
    for ins in tail:
        if isinstance(ins, TryBegin):
            new = mapping.get(id(ins), ins)
            if t_outer is not None and f_outer is not None and ins.target is t_outer.target:
                new = TryBegin(f_outer.target, ins.push_lasti, ins.stack_depth)
            mapping[id(ins)] = new
            begun.add(id(new))
            new_tail.append(new)
        elif isinstance(ins, TryEnd):
            entry = mapping.get(id(ins.entry), ins.entry)
            if id(entry) not in begun:
                # Reopen the block this handler sits in (it was left open by the segment).
                target = f_outer.target if f_outer is not None else entry.target
                fresh = TryBegin(target, entry.push_lasti, entry.stack_depth)
                pos = 1 if new_tail and isinstance(new_tail[0], Label) else 0
                new_tail.insert(pos, fresh)
                begun.add(id(fresh))
                entry = fresh
            new_tail.append(TryEnd(entry))
        else:
            new_tail.append(ins)

    new_items = items[: resume + 1] + new_segment + items[resume + 1 :] + new_tail
    fb.clear()
    fb.extend(new_items)
    fb.flags = code.co_flags  # type: ignore[assignment]
    new_code = fb.to_code()
    if new_code.co_freevars != code.co_freevars or new_code.co_argcount != code.co_argcount:
        raise RuntimeError(f"cannot instrument {code.co_qualname}: signature changed")
    return new_code


class _Slot:
    """Everything armed on one function: the pristine code and the live records."""

    __slots__ = ("current", "func", "original", "records")

    def __init__(self, func: types.FunctionType) -> None:
        self.func = func
        self.original = func.__code__
        self.current = func.__code__
        self.records: list[Armed] = []

    def rebuild(self) -> None:
        """Install the original code plus one prologue per record (first armed runs first)."""
        code = self.original
        for rec in reversed(self.records):
            code = build_armed_code(code, rec.name, rec.evaluate, rec.evaluate_async, rec.no_value)
        self.func.__code__ = code
        self.current = code


class Armed:
    """One failpoint armed on one function. ``disarm()`` is idempotent.

    Several failpoints may be armed on the same function (a decorated function that is
    also patched by target): each adds its prologue, in arming order. When the last one is
    disarmed, the identical original code object is back.
    """

    __slots__ = ("_slot", "evaluate", "evaluate_async", "func", "name", "no_value")

    def __init__(
        self,
        slot: _Slot,
        name: str,
        evaluate: Callable[[str], object],
        evaluate_async: Callable[[str], Any],
        no_value: object,
    ) -> None:
        self._slot = slot
        self.func = slot.func
        self.name = name
        self.evaluate = evaluate
        self.evaluate_async = evaluate_async
        self.no_value = no_value

    @property
    def original(self) -> types.CodeType:
        """The code object the function had before anything was armed on it."""
        return self._slot.original

    @property
    def armed_code(self) -> types.CodeType:
        return self._slot.current

    @property
    def active(self) -> bool:
        return self in self._slot.records

    def disarm(self) -> None:
        with _lock:
            slot = self._slot
            if self not in slot.records:
                return
            slot.records.remove(self)
            if slot.records:
                slot.rebuild()
            else:
                if slot.func.__code__ is slot.current:
                    slot.func.__code__ = slot.original
                _slots.pop(id(slot.func), None)

    def __enter__(self) -> Armed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disarm()

    def __repr__(self) -> str:
        state = "armed" if self.active else "disarmed"
        return f"<Armed {self.func.__qualname__} failpoint={self.name!r} {state}>"


def _unwrap(func: Any) -> types.FunctionType:
    if isinstance(func, (classmethod, staticmethod)):
        func = func.__func__
    if isinstance(func, types.MethodType):
        func = func.__func__
    if not isinstance(func, types.FunctionType):
        from chaoskit.errors import ConfigError

        raise ConfigError(
            f"cannot arm {func!r}: only Python functions have a code object to swap "
            "(use chaoskit.hooks.patch for C functions and attributes)"
        )
    return func


def arm(
    func: Any,
    name: str,
    *,
    evaluate: Callable[[str], object] | None = None,
    evaluate_async: Callable[[str], Any] | None = None,
    no_value: object | None = None,
) -> Armed:
    """Make ``func`` evaluate failpoint ``name`` at entry until ``disarm()``.

    ``func`` is a Python function (a bound method, classmethod or staticmethod is
    unwrapped to its function). The evaluators default to
    :func:`chaoskit.failpoints.registry.evaluate` / ``evaluate_async``.
    Arming the same name twice on one function raises ``ConfigError``; different names
    stack.
    """
    target = _unwrap(func)
    if evaluate is None or evaluate_async is None or no_value is None:
        from chaoskit.failpoints import registry

        evaluate = evaluate or registry.evaluate
        evaluate_async = evaluate_async or registry.evaluate_async
        no_value = registry.NO_VALUE if no_value is None else no_value
    with _lock:
        slot = _slots.get(id(target))
        if slot is not None and target.__code__ is not slot.current:
            # Someone else replaced the code since: start again from what is there now.
            slot.records.clear()
            slot = None
        if slot is None:
            slot = _Slot(target)
        if any(rec.name == name for rec in slot.records):
            from chaoskit.errors import ConfigError

            raise ConfigError(
                f"{target.__qualname__} is already armed for failpoint {name!r}", text=name
            )
        record = Armed(slot, name, evaluate, evaluate_async, no_value)
        slot.records.append(record)
        try:
            slot.rebuild()
        except BaseException:
            slot.records.remove(record)
            raise
        _slots[id(target)] = slot
        return record


def is_armed(func: Any) -> bool:
    """True while ``func`` runs armed code."""
    target = _unwrap(func)
    slot = _slots.get(id(target))
    return slot is not None and bool(slot.records) and target.__code__ is slot.current
