"""Exact recursion depths, per backend, against known depths."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from chaoskit.hooks.probe import probe

RECURSIVE = """
import asyncio

def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)

def even(n):
    return True if n == 0 else odd(n - 1)

def odd(n):
    return False if n == 0 else even(n - 1)

def gen(n):
    yield n
    if n > 1:
        yield from gen(n - 1)

async def walk(n):
    await asyncio.sleep(0)
    if n > 1:
        await walk(n - 1)

def boom(n):
    if n == 0:
        raise KeyError("bottom")
    boom(n - 1)

def catch(n):
    try:
        boom(n)
    except KeyError:
        return "caught"

def helper():
    return 1

def flat(n):
    for _ in range(n):
        helper()
    return n

def through_outside(n):
    # recursion through a frame outside the scope (map is C, the lambda is in scope)
    if n <= 1:
        return 1
    return sum(map(lambda k: through_outside(k), [n - 1]))

class Tree:
    def __init__(self, depth):
        self.children = [Tree(depth - 1)] if depth > 1 else []

    def height(self):
        return 1 + max((c.height() for c in self.children), default=0)

    @staticmethod
    def count(n):
        return 0 if n == 0 else 1 + Tree.count(n - 1)

    @classmethod
    def build(cls, n):
        return None if n == 0 else cls.build(n - 1)
"""


def test_direct_recursion_depth_is_exact(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(mod.__name__, backend=backend) as p:
        mod.fact(37)
    assert p.backend == backend
    assert p.max_depths[f"{mod.__name__}:fact"] == 37


def test_mutual_recursion_counts_one_chain(make_module, backend):
    """even(10) -> odd(9) -> ... -> even(0) is 11 frames; odd's chain starts one higher."""
    mod = make_module(RECURSIVE)
    with probe(mod.__name__, backend=backend) as p:
        mod.even(10)
    assert p.max_depths[f"{mod.__name__}:even"] == 11
    assert p.max_depths[f"{mod.__name__}:odd"] == 9


def test_non_recursive_function_has_depth_one(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(mod.__name__, backend=backend) as p:
        mod.flat(50)
    name = mod.__name__
    assert p.max_depths[f"{name}:flat"] == 1
    assert p.max_depths[f"{name}:helper"] == 1


def test_methods_static_and_class_methods(make_module, backend):
    mod = make_module(RECURSIVE)
    tree = mod.Tree(12)
    with probe(f"{mod.__name__}:Tree", backend=backend) as p:
        assert tree.height() == 12
        mod.Tree.count(8)
        mod.Tree.build(6)
    name = mod.__name__
    # the generator expression inside height() is code of the class too and sits between
    # two height() frames: one chain of 12 height frames and 11 genexpr frames
    assert p.max_depths[f"{name}:Tree.height"] == 23
    assert p.max_depths[f"{name}:Tree.count"] == 9
    assert p.max_depths[f"{name}:Tree.build"] == 7
    assert f"{name}:fact" not in p.max_depths


def test_function_scope_excludes_nested_code(make_module, backend):
    mod = make_module(RECURSIVE)
    tree = mod.Tree(12)
    with probe(f"{mod.__name__}:Tree.height", backend=backend) as p:
        tree.height()
    assert p.max_depths == {f"{mod.__name__}:Tree.height": 12}


def test_generators_count_only_while_running(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(mod.__name__, backend=backend) as p:
        assert list(mod.gen(6)) == [6, 5, 4, 3, 2, 1]
        # suspended generators are not on the stack: a fresh call is depth 1 again
        g1 = mod.gen(3)
        next(g1)
        g2 = mod.gen(3)
        next(g2)
        mod.fact(2)
    assert p.max_depths[f"{mod.__name__}:gen"] == 6
    assert p.max_depths[f"{mod.__name__}:fact"] == 2


def test_coroutines_are_counted_per_task(make_module, backend):
    mod = make_module(RECURSIVE)

    async def main():
        await asyncio.gather(*(mod.walk(7) for _ in range(5)), mod.walk(3))

    with probe(mod.__name__, backend=backend) as p:
        asyncio.run(main())
    assert p.max_depths[f"{mod.__name__}:walk"] == 7


def test_exception_unwinding_several_frames(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(mod.__name__, backend=backend) as p:
        for _ in range(3):
            assert mod.catch(6) == "caught"
        with pytest.raises(KeyError):
            mod.boom(4)
        mod.fact(5)
    name = mod.__name__
    # boom(6)..boom(0) is 7 frames under catch; the unwinding leaves nothing behind,
    # so the later calls start from an empty stack again
    assert p.max_depths[f"{name}:boom"] == 7
    assert p.max_depths[f"{name}:catch"] == 1
    assert p.max_depths[f"{name}:fact"] == 5


def test_recursion_through_code_outside_the_scope(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(mod.__name__, backend=backend) as p:
        mod.through_outside(5)
    # the lambda is in the module's scope and counts in the chain; map() does not
    assert p.max_depths[f"{mod.__name__}:through_outside"] == 9
    with probe(f"{mod.__name__}:through_outside", backend=backend) as p:
        mod.through_outside(5)
    assert p.max_depths == {f"{mod.__name__}:through_outside": 5}


def test_depth_is_per_thread(make_module, backend):
    """Two threads recursing at the same time do not add up."""
    mod = make_module(
        """
        def dive(n, barrier):
            if n == 0:
                barrier.wait(timeout=30)
                return 0
            return 1 + dive(n - 1, barrier)
        """
    )
    barrier = threading.Barrier(3)
    with probe(mod.__name__, backend=backend) as p:
        threads = [threading.Thread(target=mod.dive, args=(n, barrier)) for n in (15, 25)]
        for t in threads:
            t.start()
        mod.dive(5, barrier)
        for t in threads:
            t.join()
    assert p.max_depths[f"{mod.__name__}:dive"] == 26


def test_function_scope_sees_only_that_function(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(f"{mod.__name__}:fact", backend=backend) as p:
        mod.fact(9)
        mod.even(4)
    assert p.max_depths == {f"{mod.__name__}:fact": 9}


def test_decorated_functions_are_measured(make_module, backend):
    mod = make_module(
        """
        import functools

        def logged(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return fn(*args)
            return wrapper

        @logged
        def down(n):
            return 0 if n == 0 else down(n - 1)
        """
    )
    with probe(f"{mod.__name__}:down", backend=backend) as p:
        mod.down(10)
    # the wrapper frames sit between the recursive calls but are not in the scope
    assert p.max_depths == {f"{mod.__name__}:down": 11}


def test_closures_created_after_start_are_measured(make_module, backend):
    mod = make_module(
        """
        def make():
            def inner(n):
                return 0 if n == 0 else inner(n - 1)
            return inner
        """
    )
    with probe(mod.__name__, backend=backend) as p:
        mod.make()(12)
    assert p.max_depths[f"{mod.__name__}:make.<locals>.inner"] == 13


def test_probe_started_inside_a_recursion(make_module, backend):
    """Frames running before the probe started are not counted, and do not confuse it."""
    mod = make_module(
        """
        def nest(n, at, hook):
            if n == at:
                hook()
            if n == 0:
                return 0
            return nest(n - 1, at, hook)
        """
    )
    box = []

    def start():
        box.append(probe(mod.__name__, backend=backend).start())

    mod.nest(10, 6, start)
    p = box[0]
    try:
        mod.nest(3, -1, lambda: None)
    finally:
        p.stop()
    # nest(5)..nest(0) ran under the probe (6 frames); then a fresh nest(3) chain of 4
    assert p.max_depths[f"{mod.__name__}:nest"] == 6


def test_default_backend_is_chosen_by_version_and_explained(make_module):
    mod = make_module(RECURSIVE)
    previous = sys.gettrace()
    sys.settrace(None)  # coverage may hold the trace slot while the suite runs
    try:
        with probe(mod.__name__) as p:
            mod.fact(3)
    finally:
        sys.settrace(previous)
    assert p.max_depths[f"{mod.__name__}:fact"] == 3
    if sys.version_info >= (3, 12):
        assert p.backend == "sys.monitoring"
        assert p.tool_id in (3, 4)
        assert f"tool id {p.tool_id} is free" in p.backend_reason
    else:
        assert p.backend == "settrace"
        assert "needs Python 3.12+" in p.backend_reason
        assert "settrace slot is free" in p.backend_reason


def test_hitting_the_recursion_limit_does_not_switch_the_probe_off(make_module, backend):
    mod = make_module(
        RECURSIVE
        + """
def forever(n):
    return forever(n + 1)
"""
    )
    with probe(mod.__name__, backend=backend) as p:
        with pytest.raises(RecursionError):
            mod.forever(0)
        p.refresh()  # the executor does this at each iteration start
        mod.fact(50)
    assert p.error is None
    limit = sys.getrecursionlimit()
    assert limit - 60 < p.max_depths[f"{mod.__name__}:forever"] < limit
    assert p.max_depths[f"{mod.__name__}:fact"] == 50
