"""The failpoint registry: which terms are active where, evaluation, counts and watchers.

The hot path is :func:`inject` for a failpoint that is not active: one set lookup.
Everything else (scopes, counts, events, actions) happens only for names in ``_live``,
the set of names that are active in *some* scope or awaited by :func:`wait_until_hit`.

Scopes: the root scope is process-wide; :func:`scope` pushes a child scope into a
:class:`~contextvars.ContextVar`, so settings made inside it are seen only by code that
runs in that context (the thread or asyncio task that entered it, and tasks and
``copy_context()`` runs started from it). A name a scope does not mention falls back to
its parent; ``disable`` inside a scope masks the parent's setting.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from contextvars import ContextVar

from chaoskit._frozen import Frozen
from chaoskit.errors import ConfigError
from chaoskit.failpoints import actions as _actions
from chaoskit.failpoints.terms import Term, Terms, parse_terms
from chaoskit.rng import global_rng as _global_rng

# Start-up time: every program with a failpoint imports this module, so it leaves out
# ``typing``, ``dataclasses`` and the engine's ``chaoskit.context`` (see _hit).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

__all__ = [
    "NO_VALUE",
    "FailpointStatus",
    "Scope",
    "TermStatus",
    "close_scope",
    "counts",
    "current_scope",
    "disable",
    "enable",
    "enabled",
    "evaluate",
    "evaluate_async",
    "ever_enabled",
    "hit_count",
    "inject",
    "inject_async",
    "is_active",
    "register",
    "registered",
    "reset",
    "restore",
    "saved",
    "scope",
    "status",
    "wait_until_hit",
    "watch",
]


class _NoValue:
    """The failpoint did not produce a value (not fired, or fired a non-value action)."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()

# --- state -----------------------------------------------------------------------------


class _State:
    """One activation of ``terms`` for ``name`` in one scope: counters and pause release."""

    __slots__ = ("fired", "hits", "lock", "name", "released", "remaining", "terms")

    def __init__(self, name: str, terms: Terms) -> None:
        self.name = name
        self.terms = terms
        self.remaining: list[int | None] = [t.count for t in terms.terms]
        self.fired = [0] * len(terms.terms)
        self.hits = 0
        self.lock = threading.Lock()
        self.released = threading.Event()

    def choose(self, rng: Any) -> int:
        """Count a hit and pick the term that fires (-1 if none). Exact under threads."""
        with self.lock:
            self.hits += 1
            for i, term in enumerate(self.terms.terms):
                left = self.remaining[i]
                if left is not None and left <= 0:
                    continue
                p = term.probability
                if p is not None and not (p >= 100.0 or rng.random() * 100.0 < p):
                    continue
                if left is not None:
                    self.remaining[i] = left - 1
                self.fired[i] += 1
                return i
            return -1


class Scope:
    """A set of failpoint settings layered over a parent scope."""

    __slots__ = ("__weakref__", "closed", "name", "parent", "states")

    def __init__(self, parent: Scope | None, name: str = "") -> None:
        self.parent = parent
        self.name = name
        # name -> state; None masks the parent's setting ("disabled here").
        self.states: dict[str, _State | None] = {}
        self.closed = False

    def lookup(self, name: str) -> _State | None:
        s: Scope | None = self
        while s is not None:
            if name in s.states:
                return s.states[name]
            s = s.parent
        return None

    def __repr__(self) -> str:
        return f"<failpoint scope {self.name or hex(id(self))} {sorted(self.states)}>"


ROOT = Scope(None, "root")
_scope_var: ContextVar[Scope] = ContextVar("chaoskit_failpoint_scope", default=ROOT)

_lock = threading.RLock()  # guards scopes, _refs, _watchers, transitions
_cond = threading.Condition(_lock)  # hits and releases
_live: set[str] = set()  # names with a state in some scope, or awaited
_refs: dict[str, int] = {}  # name -> number of (scope states + waiters)
_watchers: dict[str, list[Callable[[bool], None]]] = {}
_hits_total: dict[str, int] = {}  # per name, since last (re-)enable anywhere
_fired_total: dict[str, int] = {}
_registered: set[str] = set()  # names declared by code (decorator, patcher, a hit)
_count_lock = threading.Lock()  # hit/fire totals (the evaluation path, kept short)
_waiters = 0  # threads in wait_until_hit
_ever_enabled: set[str] = set()


def current_scope() -> Scope:
    return _scope_var.get()


def _incref(name: str) -> None:
    n = _refs.get(name, 0) + 1
    _refs[name] = n
    if n == 1:
        _live.add(name)
        if len(_live) == 1:
            _set_fast_path(False)
        _notify(name, True)


def _decref(name: str) -> None:
    n = _refs.get(name, 0) - 1
    if n <= 0:
        _refs.pop(name, None)
        _live.discard(name)
        if not _live:
            _set_fast_path(True)
        _notify(name, False)
    else:
        _refs[name] = n


def _notify(name: str, active: bool) -> None:
    for callback in tuple(_watchers.get(name, ())):
        try:
            callback(active)
        except Exception:
            _log().exception("failpoint watcher failed; removed", failpoint=name)
            with contextlib.suppress(ValueError):
                _watchers[name].remove(callback)


def _log() -> Any:
    import structlog

    return structlog.get_logger("chaoskit.failpoints")


def _coerce(name: str, terms: str | Terms) -> Terms:
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ConfigError(f"bad failpoint name {name!r}")
    if isinstance(terms, Terms):
        return terms
    return parse_terms(terms, source=f"failpoint {name!r}")


def _set(target: Scope, name: str, state: _State | None) -> None:
    """Install ``state`` (None = masked) for ``name`` in ``target``; caller holds _lock."""
    old = target.states.get(name)
    if old is not None:
        old.released.set()
    if state is None and target is ROOT:
        target.states.pop(name, None)
    else:
        target.states[name] = state
    if state is not None:
        _hits_total[name] = 0
        _fired_total[name] = 0
        _incref(name)
    if old is not None:
        _decref(name)
    _cond.notify_all()


# --- public control --------------------------------------------------------------------


def enable(name: str, terms: str | Terms, *, scope: Scope | None = None) -> Terms:
    """Activate ``terms`` for ``name`` in the current scope (or ``scope``); returns them.

    Terms that are all ``off`` disable the failpoint. Counters restart.
    """
    parsed = _coerce(name, terms)
    with _lock:
        target = scope or _scope_var.get()
        _ever_enabled.add(name)
        _set(target, name, None if parsed.is_off else _State(name, parsed))
    return parsed


def disable(name: str, *, scope: Scope | None = None) -> bool:
    """Deactivate ``name`` in the current scope; True if it was active there."""
    with _lock:
        target = scope or _scope_var.get()
        was = target.lookup(name) is not None
        if name in target.states or target.parent is not None:
            _set(target, name, None)
        return was


def is_active(name: str) -> bool:
    """True if ``name`` has active terms in the caller's scope."""
    return name in _live and _scope_var.get().lookup(name) is not None


@contextlib.contextmanager
def enabled(name: str, terms: str | Terms) -> Iterator[Terms]:
    """Activate ``terms`` inside the block and restore the previous setting afterwards."""
    parsed = _coerce(name, terms)
    with _lock:
        target = _scope_var.get()
        had = name in target.states
        previous = target.states.get(name)
        _ever_enabled.add(name)
        _set(target, name, None if parsed.is_off else _State(name, parsed))
    try:
        yield parsed
    finally:
        with _lock:
            if had and previous is not None:
                restore(name, previous, scope=target)
            elif had:
                _set(target, name, None)
            else:
                _set(target, name, None)
                target.states.pop(name, None)


def saved(name: str, *, scope: Scope | None = None) -> _State | None:
    """The activation of ``name`` set in the current scope (or ``scope``), for :func:`restore`."""
    return (scope or _scope_var.get()).states.get(name)


def restore(name: str, state: _State, *, scope: Scope | None = None) -> None:
    """Put back an activation from :func:`saved` with its counters, so a used-up
    ``1*panic`` stays used up (``enable`` with the same terms would restart them)."""
    with _lock:
        state.released = threading.Event()  # set when it was replaced
        _set(scope or _scope_var.get(), name, state)
        with _count_lock, state.lock:
            _hits_total[name] = state.hits
            _fired_total[name] = sum(state.fired)


@contextlib.contextmanager
def scope(name: str = "") -> Iterator[Scope]:
    """A child scope for this context: settings made inside stay inside."""
    child = Scope(_scope_var.get(), name)
    token = _scope_var.set(child)
    try:
        yield child
    finally:
        _scope_var.reset(token)
        close_scope(child)


def close_scope(target: Scope) -> None:
    """Drop every setting of ``target`` (releasing paused callers)."""
    with _lock:
        for key in list(target.states):
            state = target.states.pop(key)
            if state is not None:
                state.released.set()
                _decref(key)
        target.closed = True
        _cond.notify_all()


def reset() -> None:
    """Disable everything in the root scope and forget counts (tests, ``chaoskit.testing``)."""
    with _lock:
        close_scope(ROOT)
        ROOT.closed = False
        _hits_total.clear()
        _fired_total.clear()
        _ever_enabled.clear()


def register(name: str) -> None:
    """Declare that code has a failpoint ``name`` (strict mode lists the others)."""
    _registered.add(name)


def registered() -> frozenset[str]:
    return frozenset(_registered)


def ever_enabled() -> frozenset[str]:
    return frozenset(_ever_enabled)


def watch(name: str, callback: Callable[[bool], None]) -> Callable[[], None]:
    """Call ``callback(True/False)`` whenever ``name`` becomes active/inactive anywhere.

    If ``name`` is active already, ``callback(True)`` runs before ``watch`` returns.
    Returns a function that removes the watcher.
    """
    with _lock:
        _watchers.setdefault(name, []).append(callback)
        if name in _live:
            callback(True)

    def unwatch() -> None:
        with _lock:
            callbacks = _watchers.get(name)
            if callbacks and callback in callbacks:
                callbacks.remove(callback)
                if not callbacks:
                    del _watchers[name]

    return unwatch


# --- status ----------------------------------------------------------------------------


class TermStatus(Frozen):
    __slots__ = ("fired", "remaining", "term")
    _fields = ("term", "fired", "remaining")
    term: str
    fired: int
    remaining: int | None

    def __init__(self, term: str, fired: int, remaining: int | None) -> None:
        self._set(term=term, fired=fired, remaining=remaining)


class FailpointStatus(Frozen):
    """One failpoint as :func:`status` sees it in the caller's scope."""

    __slots__ = ("fired", "hits", "name", "per_term", "registered", "terms")
    _fields = ("name", "terms", "hits", "fired", "per_term", "registered")
    name: str
    terms: str
    hits: int
    fired: int
    per_term: tuple[TermStatus, ...]
    registered: bool

    def __init__(
        self,
        name: str,
        terms: str,
        hits: int,
        fired: int,
        per_term: tuple[TermStatus, ...] = (),
        registered: bool = False,
    ) -> None:
        self._set(
            name=name, terms=terms, hits=hits, fired=fired, per_term=per_term, registered=registered
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "terms": self.terms,
            "hits": self.hits,
            "fired": self.fired,
            "registered": self.registered,
            "per_term": [
                {"term": t.term, "fired": t.fired, "remaining": t.remaining} for t in self.per_term
            ],
        }


def _snapshot(state: _State) -> FailpointStatus:
    with state.lock:
        per = tuple(
            TermStatus(str(t), state.fired[i], state.remaining[i])
            for i, t in enumerate(state.terms.terms)
        )
        return FailpointStatus(
            name=state.name,
            terms=str(state.terms),
            hits=state.hits,
            fired=sum(state.fired),
            per_term=per,
            registered=state.name in _registered,
        )


def status(name: str | None = None, *, scope: Scope | None = None) -> dict[str, FailpointStatus]:
    """Active failpoints visible from the caller's scope (or ``scope``; or just ``name``)."""
    with _lock:
        cur = scope or _scope_var.get()
        names: set[str] = set()
        s: Scope | None = cur
        while s is not None:
            names.update(s.states)
            s = s.parent
        out: dict[str, FailpointStatus] = {}
        for key in sorted(names):
            if name is not None and key != name:
                continue
            state = cur.lookup(key)
            if state is not None:
                out[key] = _snapshot(state)
        return out


def hit_count(name: str) -> int:
    """Hits of ``name`` (in any scope) since it was last enabled."""
    return _hits_total.get(name, 0)


def counts(name: str) -> tuple[int, int]:
    """``(hits, firings)`` of ``name`` in every scope since it was last enabled."""
    return _hits_total.get(name, 0), _fired_total.get(name, 0)


def wait_until_hit(name: str, timeout: float | None = None, *, count: int = 1) -> bool:
    """Block until ``name`` has been hit ``count`` times since it was enabled.

    Hits are counted while the name is active anywhere or while someone waits for it.
    Returns False on timeout.
    """
    import time

    global _waiters
    deadline = None if timeout is None else time.monotonic() + timeout
    with _lock:
        _incref(name)
        _waiters += 1
        try:
            while _hits_total.get(name, 0) < count:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                _cond.wait(remaining if remaining is None else min(remaining, 0.5))
            return True
        finally:
            _waiters -= 1
            _decref(name)


# --- evaluation ------------------------------------------------------------------------


class Hit(Frozen):
    """What a ``call(...)`` callback receives."""

    __slots__ = ("args", "hits", "name", "term")
    _fields = ("name", "term", "hits", "args")
    name: str
    term: Term
    hits: int
    args: tuple[object, ...]

    def __init__(self, name: str, term: Term, hits: int, args: tuple[object, ...] = ()) -> None:
        self._set(name=name, term=term, hits=hits, args=args)


def _hit(name: str) -> tuple[_State | None, int]:
    """Count the hit; return (state, fired term index or -1)."""
    state = _scope_var.get().lookup(name)
    if name not in _registered:
        _registered.add(name)
    with _count_lock:
        _hits_total[name] = _hits_total.get(name, 0) + 1
    if _waiters:
        with _lock:
            _cond.notify_all()
    if state is None:
        return None, -1
    # No scenario can be running before the engine imported chaoskit.context.
    context = sys.modules.get("chaoskit.context")
    ctx = context.current() if context is not None else None
    index = state.choose(ctx.rng if ctx is not None else _global_rng())
    if index >= 0:
        with _count_lock:
            _fired_total[name] = _fired_total.get(name, 0) + 1
    if ctx is not None:
        from chaoskit.events import FailpointFired, FailpointHit

        ctx.emit(FailpointHit(iteration=ctx.iteration, name=name))
        if index >= 0:
            term = state.terms.terms[index]
            ctx.emit(
                FailpointFired(
                    iteration=ctx.iteration, name=name, term=str(term), action=term.action
                )
            )
    return state, index


def evaluate(name: str) -> object:
    """Evaluate failpoint ``name`` here: run the fired action; its value or NO_VALUE."""
    if name not in _live:
        return NO_VALUE
    state, index = _hit(name)
    if state is None or index < 0:
        return NO_VALUE
    return _actions.run(state, state.terms.terms[index])


async def evaluate_async(name: str) -> object:
    """Like :func:`evaluate`, but sleeps, pauses and yields await instead of blocking."""
    if name not in _live:
        return NO_VALUE
    state, index = _hit(name)
    if state is None or index < 0:
        return NO_VALUE
    return await _actions.run_async(state, state.terms.terms[index])


def inject(name: str) -> object:
    """Inline failpoint: the fired ``return`` value, else None. Near free when off."""
    if name not in _live:
        return None
    value = evaluate(name)
    return None if value is NO_VALUE else value


async def inject_async(name: str) -> object:
    """Async inline failpoint: awaits sleeps and pauses instead of blocking the loop."""
    if name not in _live:
        return None
    value = await evaluate_async(name)
    return None if value is NO_VALUE else value


# --- the fast path ---------------------------------------------------------------------
# While no failpoint is live anywhere in the process, inject/inject_async run the code of
# a function that just returns None (the same cost as any no-op call); the first enable
# swaps the checking code back in. The function objects never change, so references
# taken earlier (``inject = failpoint.inject``) follow.


def _inject_off(name: str) -> object:
    return None


async def _inject_async_off(name: str) -> object:
    return None


def _off_code(off: Any, on: Any) -> Any:
    return off.__code__.replace(co_name=on.__code__.co_name, co_qualname=on.__code__.co_qualname)


_FAST_PATH: list[tuple[Any, Any, Any]] = []


def add_fast_path(func: Any, off: Any) -> None:
    """Run ``off``'s code in ``func`` while no failpoint is live (same signature)."""
    with _lock:
        _FAST_PATH.append((func, func.__code__, _off_code(off, func)))
        if not _live:
            func.__code__ = _FAST_PATH[-1][2]


def _set_fast_path(nothing_live: bool) -> None:
    for func, checking, off in _FAST_PATH:
        func.__code__ = off if nothing_live else checking


add_fast_path(inject, _inject_off)
add_fast_path(inject_async, _inject_async_off)


def _reinit_after_fork() -> None:
    """A child of ``fork`` must not inherit locks held by threads that no longer exist."""
    global _lock, _cond, _count_lock
    _lock = threading.RLock()
    _cond = threading.Condition(_lock)
    _count_lock = threading.Lock()
    seen: set[int] = set()
    for scope_ in (ROOT,):
        for state in scope_.states.values():
            if state is not None and id(state) not in seen:
                seen.add(id(state))
                state.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
