"""``@failpoint("name")``: untouched while off, every action when on, for every kind."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from typing import Any

import pytest

from chaoskit import failpoint as ck_failpoint
from chaoskit.errors import ChaosPanic, ConfigError
from chaoskit.failpoints import failpoint


def test_chaoskit_reexports_the_same_object() -> None:
    assert ck_failpoint is failpoint


def test_disabled_failpoint_runs_original_code(fp_name: str) -> None:
    def save(x: int) -> int:
        return x + 1

    original = save.__code__
    decorated = failpoint(fp_name)(save)
    assert decorated is save
    assert save.__code__ is original
    assert save(1) == 2


def test_enabling_arms_and_disabling_restores(fp_name: str) -> None:
    @failpoint(fp_name)
    def save(x: int) -> int:
        return x + 1

    original = save.__code__
    failpoint.enable(fp_name, "return(42)")
    assert save.__code__ is not original
    assert save(1) == 42
    failpoint.disable(fp_name)
    assert save.__code__ is original
    assert save(1) == 2


def test_function_decorated_after_enable_is_armed_at_once(fp_name: str) -> None:
    failpoint.enable(fp_name, "return('early')")

    @failpoint(fp_name)
    def late() -> str:
        return "body"

    assert late() == "early"


def test_metadata_and_introspection_are_kept(fp_name: str) -> None:
    @failpoint(fp_name)
    def f(a: int, *, b: str = "x") -> str:
        """Doc."""
        return b * a

    @failpoint(fp_name + "-async")
    async def g() -> None:
        pass

    @failpoint(fp_name + "-gen")
    def h() -> Any:
        yield 1

    sig = inspect.signature(f)
    with failpoint.enabled(fp_name, "off->return(1)"):
        pass
    with (
        failpoint.enabled(fp_name, "50%return(1)"),
        failpoint.enabled(fp_name + "-async", "return"),
        failpoint.enabled(fp_name + "-gen", "return"),
    ):
        assert inspect.signature(f) == sig
        assert (f.__name__, f.__doc__, f.__qualname__.endswith("f")) == ("f", "Doc.", True)
        assert inspect.iscoroutinefunction(g)
        assert inspect.isgeneratorfunction(h)
        wrapped = functools.wraps(f)(lambda: None)
        assert wrapped.__name__ == "f"


def test_methods_of_every_kind(fp_name: str) -> None:
    class Store:
        @failpoint(fp_name + "-m")
        def save(self) -> str:
            return "saved"

        @classmethod
        @failpoint(fp_name + "-c")
        def create(cls) -> str:
            return "created"

        @failpoint(fp_name + "-s")
        @staticmethod
        def check() -> str:
            return "checked"

        @failpoint(fp_name + "-c2")
        @classmethod
        def other(cls) -> str:
            return "other"

    s = Store()
    with (
        failpoint.enabled(fp_name + "-m", "return(1)"),
        failpoint.enabled(fp_name + "-c", "return(2)"),
        failpoint.enabled(fp_name + "-s", "return(3)"),
        failpoint.enabled(fp_name + "-c2", "return(4)"),
    ):
        assert (s.save(), Store.create(), Store.check(), Store.other()) == (1, 2, 3, 4)
    assert (s.save(), Store.create(), Store.check(), Store.other()) == (
        "saved",
        "created",
        "checked",
        "other",
    )


def test_return_skips_the_body(fp_name: str) -> None:
    ran: list[int] = []

    @failpoint(fp_name)
    def side_effect() -> str:
        ran.append(1)
        return "body"

    with failpoint.enabled(fp_name, "1*return(None)"):
        assert side_effect() is None
        assert ran == []
        assert side_effect() == "body"
        assert ran == [1]


def test_raise_and_panic_come_out_of_the_function(fp_name: str) -> None:
    @failpoint(fp_name)
    def op() -> None:
        pass

    with failpoint.enabled(fp_name, "1*raise(ConnectionResetError, 'peer')->panic(down)"):
        with pytest.raises(ConnectionResetError, match="peer"):
            op()
        with pytest.raises(ChaosPanic, match="down"):
            op()


def test_sleep_in_a_coroutine_does_not_block_the_loop(fp_name: str) -> None:
    @failpoint(fp_name)
    async def slow() -> str:
        return "done"

    async def main() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.create_task(ticker())
        result = await slow()
        t.cancel()
        return result, ticks

    with failpoint.enabled(fp_name, "sleep(150ms)"):
        start = time.perf_counter()
        result, ticks = asyncio.run(main())
    assert result == "done"
    assert time.perf_counter() - start >= 0.14
    assert ticks >= 5  # the loop kept running while the failpoint slept


def test_async_return_value(fp_name: str) -> None:
    @failpoint(fp_name)
    async def fetch() -> str:
        return "real"

    with failpoint.enabled(fp_name, "return('fake')"):
        assert asyncio.run(fetch()) == "fake"
    assert asyncio.run(fetch()) == "real"


def test_generators_and_async_generators(fp_name: str) -> None:
    @failpoint(fp_name)
    def numbers() -> Any:
        yield from (1, 2)

    @failpoint(fp_name + "-a")
    async def anumbers() -> Any:
        for i in (1, 2):
            yield i

    async def collect() -> list[int]:
        return [x async for x in anumbers()]

    with failpoint.enabled(fp_name, "raise(ValueError)"), pytest.raises(ValueError):
        list(numbers())
    with failpoint.enabled(fp_name + "-a", "return"):
        assert asyncio.run(collect()) == []
    assert list(numbers()) == [1, 2]
    assert asyncio.run(collect()) == [1, 2]


def test_two_functions_share_one_failpoint(fp_name: str) -> None:
    @failpoint(fp_name)
    def a() -> str:
        return "a"

    @failpoint(fp_name)
    def b() -> str:
        return "b"

    with failpoint.enabled(fp_name, "return(x)"):
        assert (a(), b()) == ("x", "x")
        assert failpoint.status()[fp_name].hits == 2
    assert (a(), b()) == ("a", "b")


def test_decorator_errors() -> None:
    with pytest.raises(ConfigError):
        failpoint("")
    with pytest.raises(ConfigError, match="needs a name"):
        failpoint(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Python function"):
        failpoint("x")(len)


def test_collected_function_drops_its_watcher(fp_name: str) -> None:
    import gc

    from chaoskit.failpoints import registry

    def make() -> None:
        @failpoint(fp_name)
        def temp() -> None:
            pass

    make()
    gc.collect()
    assert not registry._watchers.get(fp_name)


def test_two_failpoints_on_one_function(fp_name: str) -> None:
    @failpoint(fp_name + "-outer")
    @failpoint(fp_name + "-inner")
    def op() -> str:
        return "body"

    original = op.__code__
    with failpoint.enabled(fp_name + "-inner", "1*return(inner)"):
        with failpoint.enabled(fp_name + "-outer", "return(outer)"):
            # Both evaluate at entry, in arming order; the first value wins.
            assert op() == "inner"
            assert op() == "outer"
            assert failpoint.status()[fp_name + "-inner"].hits == 2
        assert op() == "body"
    assert op.__code__ is original
