"""What a fired term does: one function per action, sync and async.

Every function receives the failpoint's state and the fired term and returns the
failpoint's value (``NO_VALUE`` for actions that produce none). ``time.sleep`` and
``asyncio.sleep`` are looked up when the action runs, so monkey-patchers (gevent) apply.
"""

from __future__ import annotations

import builtins
import errno
import os
import time

from chaoskit.errors import ChaosPanic, ConfigError
from chaoskit.failpoints.terms import Duration, Term

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from chaoskit.failpoints.registry import _State

__all__ = ["resolve", "run", "run_async"]

_PAUSE_POLL = 0.005
_PAUSE_SLICE = 0.1


def resolve(path: str) -> Any:
    """``module:qualname``, ``module.qualname`` or a builtin name -> the object."""
    import importlib

    if ":" in path:
        module_name, _, qualname = path.partition(":")
    elif "." in path:
        module_name, _, qualname = path.rpartition(".")
    else:
        if hasattr(builtins, path):
            return getattr(builtins, path)
        raise ConfigError(f"unknown name {path!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for {path!r}: {exc}") from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{path!r}: {module_name} has no attribute {qualname!r}") from None
    return obj


def _exception(term: Term) -> BaseException:
    path = str(term.args[0])
    cls = resolve(path)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise ConfigError(f"raise({path}): {cls!r} is not an exception class")
    args = term.args[1:]
    if issubclass(cls, OSError) and len(args) == 1 and isinstance(args[0], int):
        code = args[0]
        return cls(code, os.strerror(code) if code in errno.errorcode else f"errno {code}")
    return cls(*args)


def _panic_message(state: _State, term: Term) -> str:
    if term.args:
        return str(term.args[0])
    return f"failpoint {state.name!r} panic"


def _value(term: Term) -> object:
    import copy

    value = term.args[0] if term.args else None
    if isinstance(value, (list, dict, set, bytearray)):
        return copy.deepcopy(value)
    return value


def _duration(term: Term) -> float:
    from chaoskit import context

    arg = term.args[0]
    assert isinstance(arg, Duration)
    return arg.draw(context.rng())


def _print(state: _State, term: Term) -> None:
    from chaoskit.failpoints.registry import _log

    message = str(term.args[0]) if term.args else ""
    _log().info("failpoint hit", failpoint=state.name, message=message, term=str(term))


def _call(state: _State, term: Term) -> tuple[Callable[..., Any], Any]:
    from chaoskit.failpoints.registry import Hit

    func = resolve(str(term.args[0]))
    if not callable(func):
        raise ConfigError(f"call({term.args[0]}): not callable")
    return func, Hit(state.name, term, state.hits, term.args[1:])


def _busy_wait(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def run(state: _State, term: Term) -> object:
    """Perform ``term`` synchronously."""
    from chaoskit.failpoints.registry import NO_VALUE

    action = term.action
    if action == "return":
        return _value(term)
    if action == "off":
        return NO_VALUE
    if action == "sleep":
        time.sleep(_duration(term))
        return NO_VALUE
    if action == "delay":
        _busy_wait(_duration(term))
        return NO_VALUE
    if action == "panic":
        raise ChaosPanic(_panic_message(state, term))
    if action == "raise":
        raise _exception(term)
    if action == "print":
        _print(state, term)
        return NO_VALUE
    if action == "pause":
        # wait in slices: an uninterruptible wait would keep a hang watchdog's or an
        # interrupted run's exception from reaching this thread until the release
        while not state.released.wait(_PAUSE_SLICE):
            pass
        return NO_VALUE
    if action == "yield":
        time.sleep(0)
        return NO_VALUE
    if action == "break":
        breakpoint()
        return NO_VALUE
    if action == "call":
        func, hit = _call(state, term)
        result = func(hit)
        import inspect

        if inspect.iscoroutine(result):
            result.close()
            raise ConfigError(f"call({term.args[0]}) returned a coroutine in synchronous code")
        return NO_VALUE if result is None else result
    raise ConfigError(f"unknown action {action!r}")  # pragma: no cover - parser rejects it


async def run_async(state: _State, term: Term) -> object:
    """Perform ``term`` inside a coroutine: sleeps, pauses and yields await."""
    import asyncio
    import inspect

    from chaoskit.failpoints.registry import NO_VALUE

    action = term.action
    if action == "sleep":
        await asyncio.sleep(_duration(term))
        return NO_VALUE
    if action == "pause":
        while not state.released.is_set():
            await asyncio.sleep(_PAUSE_POLL)
        return NO_VALUE
    if action == "yield":
        await asyncio.sleep(0)
        return NO_VALUE
    if action == "call":
        func, hit = _call(state, term)
        result = func(hit)
        if inspect.isawaitable(result):
            result = await result
        return NO_VALUE if result is None else result
    return run(state, term)
