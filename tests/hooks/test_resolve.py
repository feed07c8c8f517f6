"""Target parsing and resolution (no patching involved)."""

from __future__ import annotations

import importlib

import pytest

from chaoskit.errors import ConfigError
from chaoskit.hooks.resolve import parse_target, resolve

SOURCE = """
import functools
import os


def plain():
    return "plain"


async def coro():
    return "coro"


def gen():
    yield 1


def deco_wraps(f):
    @functools.wraps(f)
    def wrapper(*a, **k):
        return f(*a, **k)
    return wrapper


def deco_closure(f):
    def wrapper(*a, **k):
        return f(*a, **k)
    return wrapper


@deco_wraps
def wrapped_fn():
    return "orig"


@deco_closure
@deco_wraps
def doubly_wrapped():
    return "orig2"


def _impl():
    return 1


alias = _impl
part = functools.partial(_impl)
getpid = os.getpid
NUMBER = 3


class Base:
    def m(self):
        return "base"

    @classmethod
    def cm(cls):
        return cls.__name__

    @staticmethod
    def sm():
        return "static"

    @property
    def prop(self):
        return 1

    class Inner:
        def deep(self):
            return "deep"


class Sub(Base):
    pass
"""


@pytest.fixture
def mod(modules):
    return importlib.import_module(modules.write("res", SOURCE))


def r(mod, qual):
    return resolve(parse_target(f"{mod.__name__}:{qual}"), mod)


def test_parse_target_splits_module_and_qualname():
    t = parse_target(" a.b_c:D.e ")
    assert (t.module, t.qualname, t.name) == ("a.b_c", "D.e", "a.b_c:D.e")


@pytest.mark.parametrize(
    "text", ["nocolon", "a:b:c", "a.:f", "a:f.", "1mod:f", "a:<locals>.f", ":f", "a:"]
)
def test_malformed_targets_raise_config_error_naming_the_text(text):
    with pytest.raises(ConfigError) as info:
        parse_target(text)
    assert text in str(info.value)


def test_module_function_resolves_to_itself(mod):
    res = r(mod, "plain")
    assert res.kind == "function" and res.functions == (mod.plain,)


def test_async_and_generator_functions_resolve(mod):
    assert r(mod, "coro").functions == (mod.coro,)
    assert r(mod, "gen").functions == (mod.gen,)


def test_method_is_read_from_vars_not_bound(mod):
    res = r(mod, "Base.m")
    assert res.kind == "method"
    assert res.functions == (mod.Base.__dict__["m"],)


def test_classmethod_and_staticmethod_resolve_to_underlying_function(mod):
    cm = r(mod, "Base.cm")
    sm = r(mod, "Base.sm")
    assert cm.kind == "classmethod" and cm.functions == (mod.Base.__dict__["cm"].__func__,)
    assert sm.kind == "staticmethod" and sm.functions == (mod.Base.__dict__["sm"].__func__,)


def test_property_resolves_to_getter(mod):
    res = r(mod, "Base.prop")
    assert res.kind == "property" and res.functions == (mod.Base.__dict__["prop"].fget,)


def test_nested_class_method_resolves(mod):
    res = r(mod, "Base.Inner.deep")
    assert res.functions[0].__qualname__ == "Base.Inner.deep"


def test_inherited_method_resolves_where_it_is_defined(mod):
    res = r(mod, "Sub.m")
    assert res.defined_in is mod.Base and res.owner is mod.Sub
    assert res.where == f"{mod.__name__}:Base.m"


def test_decorated_function_resolves_to_original_through_wrapped(mod):
    res = r(mod, "wrapped_fn")
    (fn,) = res.functions
    assert fn is mod.wrapped_fn.__wrapped__ and fn() == "orig"


def test_decorator_without_wraps_is_seen_through_closure_cells(mod):
    (fn,) = r(mod, "doubly_wrapped").functions
    assert fn.__qualname__ == "doubly_wrapped" and fn() == "orig2"
    assert fn is not mod.doubly_wrapped


def test_alias_and_partial_resolve_to_the_function(mod):
    assert r(mod, "alias").functions == (mod._impl,)
    assert r(mod, "part").functions == (mod._impl,)


def test_c_function_resolves_as_attribute(mod):
    res = r(mod, "getpid")
    assert res.kind == "attribute" and res.functions == () and res.attr == "getpid"


@pytest.mark.parametrize(
    ("qual", "needle"),
    [
        ("missing", "has no attribute 'missing'"),
        ("Base.nope", "has no attribute 'nope'"),
        ("Nope.m", "has no attribute 'Nope'"),
        ("NUMBER", "not callable"),
        ("Base", "is a class"),
        ("os", "is a module"),
    ],
)
def test_unresolvable_targets_raise_config_error_naming_target(mod, qual, needle):
    with pytest.raises(ConfigError) as info:
        r(mod, qual)
    assert needle in str(info.value)
    assert f"{mod.__name__}:{qual}" in str(info.value)


def test_resolution_changes_nothing(mod):
    before = dict(vars(mod.Base))
    code = mod.plain.__code__
    r(mod, "Base.m")
    r(mod, "plain")
    assert dict(vars(mod.Base)) == before and mod.plain.__code__ is code
