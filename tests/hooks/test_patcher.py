"""patch(): what it reaches, what undo restores, and how it fails."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import os
import sys
import threading
import warnings

import pytest

from chaoskit.errors import ChaosPanic, ConfigError
from chaoskit.failpoints import registry
from chaoskit.hooks import patch
from chaoskit.hooks.patcher import PatchWarning, patch_on_import

APP = """
import functools

REGISTRY = {}


def register(f):
    REGISTRY[f.__name__] = f
    return f


@register
def handler(x):
    return ("real", x)


def retry(times):
    def deco(f):
        @functools.wraps(f)
        def wrapper(*a, **k):
            for attempt in range(times):
                try:
                    return f(*a, **k)
                except OSError:
                    if attempt == times - 1:
                        raise
        return wrapper
    return deco


CALLS = []


@retry(3)
def flaky():
    CALLS.append(1)
    return "ok"


def plain(a, b=2, *, c=3):
    return a + b + c


def where():
    import inspect
    return inspect.currentframe().f_lineno


def fails():
    x = 1
    raise ValueError(x)


class Base:
    def m(self):
        return "base"

    @classmethod
    def make(cls):
        return cls.__name__

    @staticmethod
    def st():
        return "static"

    async def fetch(self, v):
        return ("fetched", v)

    def gen(self):
        yield 1
        yield 2

    async def agen(self):
        yield 1

    class Inner:
        def deep(self):
            return "deep"


class Sub(Base):
    pass
"""


@pytest.fixture
def app(modules):
    return importlib.import_module(modules.write("app", APP))


def T(app, qual):
    return f"{app.__name__}:{qual}"


def test_reference_taken_before_patch_sees_it(app):
    handler = app.handler
    with patch(T(app, "handler"), "return('patched')"):
        assert handler(1) == "patched"
        assert app.REGISTRY["handler"](1) == "patched"
    assert handler(1) == ("real", 1)


def test_bound_method_taken_before_patch_sees_it(app):
    bound = app.Base().m
    with patch(T(app, "Base.m"), "return('p')"):
        assert bound() == "p"
    assert bound() == "base"


def test_classmethod_staticmethod_and_nested_class_methods(app):
    with patch(T(app, "Base.make"), "raise(KeyError)"), pytest.raises(KeyError):
        app.Sub.make()
    with patch(T(app, "Base.st"), "return(7)"):
        assert app.Base.st() == 7 and app.Base().st() == 7
    with patch(T(app, "Base.Inner.deep"), "panic(deep)"), pytest.raises(ChaosPanic):
        app.Base.Inner().deep()


def test_async_method_returns_value_and_keeps_being_a_coroutine_function(app):
    with patch(T(app, "Base.fetch"), "return('x')"):
        assert inspect.iscoroutinefunction(app.Base.fetch)
        assert asyncio.run(app.Base().fetch(1)) == "x"
    assert asyncio.run(app.Base().fetch(1)) == ("fetched", 1)


def test_async_sleep_awaits_instead_of_blocking_the_loop(app):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        with patch(T(app, "Base.fetch"), "sleep(300ms)"):
            result = await app.Base().fetch(2)
        task.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result == ("fetched", 2)
    assert ticks >= 5  # the loop ran other tasks while the patched coroutine slept


def test_generators_stay_generators_and_return_stops_them(app):
    with patch(T(app, "Base.gen"), "return(5)"):
        assert inspect.isgeneratorfunction(app.Base.gen)
        assert list(app.Base().gen()) == []
    assert list(app.Base().gen()) == [1, 2]
    with patch(T(app, "Base.agen"), "return(1)"):
        assert inspect.isasyncgenfunction(app.Base.agen)


def test_signature_name_and_doc_are_unchanged(app):
    sig = inspect.signature(app.plain)
    with patch(T(app, "plain"), "return(0)"):
        assert inspect.signature(app.plain) == sig
        assert app.plain.__name__ == "plain" and app.plain(1) == 0


def test_decorated_function_patches_the_original_inside_the_decorator(app):
    """The retry decorator around the target sees the injected failures and retries."""
    with patch(T(app, "flaky"), "2*raise(OSError)") as p:
        assert app.flaky() == "ok"
        assert p.hits == 3 and p.firings == 2
    assert app.CALLS == [1]
    with patch(T(app, "flaky"), "raise(OSError)"), pytest.raises(OSError):
        app.flaky()


def test_patch_stores_nothing_in_the_function_dict(app):
    before = dict(app.handler.__dict__)
    with patch(T(app, "handler"), "return(1)"):
        assert dict(app.handler.__dict__) == before


def test_undo_restores_identical_code_and_identity(app):
    fn = app.Base.__dict__["m"]
    code = fn.__code__
    cm_code = app.Base.__dict__["make"].__func__.__code__
    handles = [patch(T(app, "Base.m"), "return(1)"), patch(T(app, "Base.make"), "return(2)")]
    assert fn.__code__ is not code
    for h in handles:
        h.undo()
    assert app.Base.__dict__["m"] is fn and fn.__code__ is code
    assert app.Base.__dict__["make"].__func__.__code__ is cm_code
    assert not registry.is_active(T(app, "Base.m"))


def test_inherited_method_is_patched_where_defined_without_shadowing(app):
    with patch(T(app, "Sub.m"), "return('p')") as p:
        assert "m" not in vars(app.Sub)
        assert app.Sub().m() == "p"
        assert p.where == T(app, "Base.m")
    assert "m" not in vars(app.Sub) and app.Sub().m() == "base"


def test_same_target_twice_stacks_and_undoes_in_any_order(app):
    code = app.handler.__code__
    first = patch(T(app, "handler"), "return('first')")
    second = patch(T(app, "handler"), "return('second')")
    assert app.handler(0) == "second"
    first.undo()
    assert app.handler(0) == "second"
    second.undo()
    assert app.handler(0) == ("real", 0) and app.handler.__code__ is code
    a, b = patch(T(app, "handler"), "return('a')"), patch(T(app, "handler"), "return('b')")
    b.undo()
    assert app.handler(0) == "a"
    a.undo()
    a.undo()  # idempotent
    assert app.handler.__code__ is code


def test_two_targets_resolving_to_one_function_are_refused(app):
    with patch(T(app, "Base.m"), "return(1)"), pytest.raises(ConfigError, match="already patched"):
        patch(T(app, "Sub.m"), "return(2)")


@pytest.mark.parametrize(
    ("target", "terms", "needle"),
    [
        ("ckt_no_such_module_xyz:f", "return(1)", "not found"),
        ("{app}:nope", "return(1)", "has no attribute 'nope'"),
        ("{app}:Base.nope", "return(1)", "has no attribute 'nope'"),
        ("{app}:handler", "retrun(1)", "handler"),
        ("{app}:handler", "50%", "handler"),
        ("not a target", "return(1)", "not a target"),
        ("chaoskit.context:current", "return(None)", "own code"),
    ],
)
def test_errors_name_the_target_and_change_nothing(app, target, terms, needle):
    target = target.format(app=app.__name__)
    code = app.handler.__code__
    with pytest.raises(ConfigError) as info:
        patch(target, terms)
    assert needle in str(info.value)
    assert app.handler.__code__ is code
    assert not registry.is_active(target)


def test_reload_rearms_new_functions_and_undo_disarms_both(app):
    old = app.handler
    with patch(T(app, "handler"), "return('p')"):
        importlib.reload(app)
        assert app.handler is not old
        assert app.handler(1) == "p" and old(1) == "p"
    assert app.handler(1) == ("real", 1) and old(1) == ("real", 1)


def test_patch_on_import_applies_when_module_is_first_imported(modules, meta_path_guard):
    name = modules.write("later", APP)
    with patch_on_import(f"{name}:handler", "return('hooked')") as p:
        assert p.status == "never imported"
        mod = importlib.import_module(name)
        assert p.status == "patched"
        # the decorator in the module body captured the function at import time
        assert mod.REGISTRY["handler"](1) == "hooked"
    assert mod.REGISTRY["handler"](1) == ("real", 1)


def test_patch_on_import_unresolved_target_does_not_break_the_import(modules, meta_path_guard):
    name = modules.write("later2", APP)
    with patch_on_import(f"{name}:missing", "return(1)") as p:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mod = importlib.import_module(name)
        assert mod.handler(1) == ("real", 1)
        assert p.status == "unresolved" and "missing" in p.error
        assert any(issubclass(w.category, PatchWarning) for w in caught)


def test_patch_imports_the_module_like_mock_patch(modules):
    name = modules.write("imp", "def f():\n    return 1\n")
    assert name not in sys.modules
    with patch(f"{name}:f", "return(2)"):
        assert sys.modules[name].f() == 2


def test_c_function_is_wrapped_with_a_warning_about_earlier_references(app):
    getpid = os.getpid
    with pytest.warns(PatchWarning, match="references taken before"):
        handle = patch("os:getpid", "return(-1)")
    try:
        assert os.getpid() == -1
        assert getpid() > 0  # the earlier reference is not reached: the documented limit
    finally:
        handle.undo()
    assert os.getpid is getpid


def test_c_method_inherited_by_python_class_is_unshadowed_on_undo(modules):
    name = modules.write("cdict", "class D(dict):\n    pass\n")
    mod = importlib.import_module(name)
    with pytest.warns(PatchWarning), patch(f"{name}:D.get", "return('x')"):
        assert mod.D(a=1).get("a") == "x"
        assert {"a": 1}.get("a") == 1
    assert "get" not in vars(mod.D) and mod.D(a=1).get("a") == 1


def test_patched_function_fires_in_other_threads(app):
    out = []
    with patch(T(app, "handler"), "return('t')"):
        t = threading.Thread(target=lambda: out.append(app.handler(1)))
        t.start()
        t.join()
    assert out == ["t"]


def test_line_numbers_and_tracebacks_still_point_at_the_source(app):
    line = app.where()
    with patch(T(app, "where"), "print(hit)"):
        assert app.where() == line
    with patch(T(app, "fails"), "print(hit)"), pytest.raises(ValueError) as info:
        app.fails()
    # pytest's lineno is 0-based; the raise is two lines below the def
    assert info.traceback[-1].lineno + 1 == app.fails.__code__.co_firstlineno + 2


def test_delay_looks_up_time_sleep_when_it_runs(app, monkeypatch):
    """A monkey-patcher (gevent) replacing time.sleep after arming is honoured."""
    import time

    slept = []
    with patch(T(app, "handler"), "sleep(5s)"):
        monkeypatch.setattr(time, "sleep", slept.append)
        assert app.handler(1) == ("real", 1)
    assert slept == [5.0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_patching_works_in_a_forked_child(app):
    with patch(T(app, "handler"), "return('parent')"):
        pid = os.fork()
        if pid == 0:  # child
            try:
                ok = app.handler(0) == "parent"
                with patch(T(app, "Base.m"), "return('child')"):
                    ok = ok and app.Base().m() == "child"
                os._exit(0 if ok else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_attributes_of_builtin_types_are_refused():
    with pytest.raises(ConfigError, match=r"builtins:dict\.get"):
        patch("builtins:dict.get", "return(1)")
    assert {"a": 1}.get("a") == 1


def test_property_getter_is_patched(modules):
    name = modules.write("prop", "class C:\n    @property\n    def v(self):\n        return 1\n")
    mod = importlib.import_module(name)
    with patch(f"{name}:C.v", "return(2)"):
        assert mod.C().v == 2
    assert mod.C().v == 1


BODY_CALLS = """
def compute():
    return 1

RESULT = compute()
"""


def test_calls_made_by_the_module_body_are_intercepted(modules, meta_path_guard):
    name = modules.write("body", BODY_CALLS)
    with patch_on_import(f"{name}:compute", "return(5)") as p:
        mod = importlib.import_module(name)
        assert mod.RESULT == 5 and mod.compute() == 5 and p.hits == 2
    from chaoskit.hooks.patch_code import find_code

    original = find_code(importlib.util.find_spec(name).loader.get_code(name), "compute")
    assert mod.compute.__code__ == original and mod.compute() == 1


def test_eager_patch_of_unimported_module_sees_import_time_calls(modules, meta_path_guard):
    name = modules.write("body2", BODY_CALLS)
    with patch(f"{name}:compute", "return(7)"):
        assert sys.modules[name].RESULT == 7


def test_eager_patch_that_does_not_resolve_after_import_leaves_nothing(modules, meta_path_guard):
    name = modules.write("body3", BODY_CALLS)
    with pytest.raises(ConfigError, match="nothere"):
        patch(f"{name}:nothere", "return(7)")
    assert not registry.is_active(f"{name}:nothere")
    assert sys.modules[name].RESULT == 1


def test_patching_what_the_evaluation_itself_uses_does_not_recurse():
    """The failpoint's own probability roll calls random.Random.random: no recursion."""
    import random

    with pytest.warns(PatchWarning), patch("random:Random.random", "50%return(0.5)") as p:
        values = [random.Random(i).random() for i in range(40)]
        assert p.hits == 40 and 0 < p.firings < 40
        assert values.count(0.5) == p.firings
    assert "random" not in vars(random.Random)


def test_python_function_used_by_the_evaluation_does_not_recurse(modules):
    """Patching threading.Condition.notify_all (Python code the registry calls) is safe."""
    import threading as th

    cond = th.Condition()
    with patch("threading:Condition.notify_all", "return('patched')") as p:
        hits = p.hits  # enabling the failpoint itself notifies the registry's condition
        with cond:
            assert cond.notify_all() == "patched"
        assert p.hits == hits + 1
    with cond:
        assert cond.notify_all() is None


def test_reentrancy_guard_is_per_task_not_per_thread(app):
    """One coroutine sleeping inside its failpoint does not disable others on the loop."""

    async def main():
        with patch(T(app, "Base.fetch"), "sleep(100ms)->return('x')"):
            slow = asyncio.create_task(app.Base().fetch(1))
            await asyncio.sleep(0.01)  # slow is now inside its evaluation, sleeping
            fast = await app.Base().fetch(2)
            return await slow, fast

    slow, fast = asyncio.run(main())
    assert slow == ("fetched", 1)  # the first term (sleep) fired, then the body ran
    assert fast == ("fetched", 2) or fast == "x"


def test_generator_with_a_non_returning_term_still_yields_and_reports_lines(app):
    """Pitfall 5: generator frames after the prologue behave (3.11 bit ddtrace here)."""
    with patch(T(app, "Base.gen"), "print(gen hit)") as p:
        g = app.Base().gen()
        assert next(g) == 1
        assert g.gi_frame.f_lineno == app.Base.gen.__code__.co_firstlineno + 1
        assert list(g) == [2]
        assert p.hits == 1

    async def collect():
        return [x async for x in app.Base().agen()]

    with patch(T(app, "Base.agen"), "yield"):
        assert asyncio.run(collect()) == [1]


def test_function_with_an_active_failpoint_decorator_can_be_patched_too(modules):
    """Both prologues run, the one armed first first; each undo leaves the other armed."""
    name = modules.write(
        "decorated",
        """
        from chaoskit import failpoint

        @failpoint("ckt-save-error")
        def save(x):
            return ("saved", x)
        """,
    )
    mod = importlib.import_module(name)
    original = mod.save.__code__
    with registry.enabled("ckt-save-error", "1*return('failpoint')"):
        with patch(f"{name}:save", "return('patch')") as p:
            assert mod.save(1) == "failpoint"  # armed first, fires once
            assert mod.save(2) == "patch"
            assert p.hits == 1
        assert mod.save(3) == ("saved", 3)  # the failpoint's count is used up
    with patch(f"{name}:save", "1*return('patch')"):
        with registry.enabled("ckt-save-error", "return('failpoint')"):
            assert mod.save(4) == "patch"
            assert mod.save(5) == "failpoint"
        assert mod.save(6) == ("saved", 6)
    assert mod.save(7) == ("saved", 7)
    assert mod.save.__code__ is original
