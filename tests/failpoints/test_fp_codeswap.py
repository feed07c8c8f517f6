"""The code-object swap: arming evaluates at entry, disarming restores the identical code."""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import traceback
from typing import Any

import pytest

from chaoskit.errors import ConfigError
from chaoskit.hooks import codeswap


class Recorder:
    """Stand-in evaluators so the mechanism is tested on its own."""

    NO = object()

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.value: object = self.NO
        self.error: BaseException | None = None
        self.sleep = 0.0

    def evaluate(self, name: str) -> object:
        self.calls.append(name)
        if self.error is not None:
            raise self.error
        return self.value

    async def evaluate_async(self, name: str) -> object:
        self.calls.append(name)
        if self.sleep:
            await asyncio.sleep(self.sleep)
        if self.error is not None:
            raise self.error
        return self.value

    def arm(self, func: Any, name: str = "fp") -> codeswap.Armed:
        return codeswap.arm(
            func,
            name,
            evaluate=self.evaluate,
            evaluate_async=self.evaluate_async,
            no_value=self.NO,
        )


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def test_armed_function_evaluates_at_entry_and_runs_body(rec: Recorder) -> None:
    def f(a: int, b: int = 2) -> int:
        return a + b

    with rec.arm(f, "add"):
        assert f(1) == 3
        assert rec.calls == ["add"]
        rec.value = 99
        assert f(1) == 99
    assert f(1) == 3
    assert rec.calls == ["add", "add"]


def test_disarm_restores_the_identical_code_object(rec: Recorder) -> None:
    def f() -> int:
        return 1

    original = f.__code__
    armed = rec.arm(f)
    assert f.__code__ is not original and armed.active
    assert codeswap.is_armed(f)
    armed.disarm()
    assert f.__code__ is original
    assert not codeswap.is_armed(f)
    armed.disarm()  # idempotent
    assert f.__code__ is original


def test_closures_and_cells_keep_working(rec: Recorder) -> None:
    def outer(z: int) -> Any:
        y = 10

        def inner(q: int) -> int:
            def nested() -> int:
                return q + y + z

            return nested()

        return inner

    inner = outer(5)
    with rec.arm(inner):
        assert inner(1) == 16
        rec.value = "short"
        assert inner(1) == "short"
    assert inner(1) == 16


def test_keyword_only_and_varargs_signatures(rec: Recorder) -> None:
    def f(a: int, /, b: int, *args: int, c: int, d: int = 4, **kw: int) -> tuple[Any, ...]:
        return (a, b, args, c, d, kw)

    sig = inspect.signature(f)
    with rec.arm(f):
        assert inspect.signature(f) == sig
        assert f(1, 2, 3, c=5, e=6) == (1, 2, (3,), 5, 4, {"e": 6})
        with pytest.raises(TypeError):
            f(1, 2)  # still enforces the keyword-only argument


def test_methods_classmethods_staticmethods(rec: Recorder) -> None:
    class Repo:
        def save(self, x: int) -> int:
            return x

        @classmethod
        def make(cls) -> str:
            return cls.__name__

        @staticmethod
        def util() -> str:
            return "util"

    r = Repo()
    bound = r.save  # a reference taken before arming
    handles = [rec.arm(r.save), rec.arm(vars(Repo)["make"]), rec.arm(vars(Repo)["util"])]
    rec.value = "fired"
    assert bound(1) == "fired"
    assert Repo.make() == "fired"
    assert Repo.util() == "fired"
    for h in handles:
        h.disarm()
    assert (bound(1), Repo.make(), Repo.util()) == (1, "Repo", "util")


def test_generator_evaluates_at_first_resumption(rec: Recorder) -> None:
    def gen(n: int) -> Any:
        yield from range(n)
        return "done"

    with rec.arm(gen):
        assert inspect.isgeneratorfunction(gen)
        g = gen(3)
        assert rec.calls == []  # creating the generator does not evaluate
        assert list(g) == [0, 1, 2]
        assert rec.calls == ["fp"]
        rec.value = "early"
        with pytest.raises(StopIteration) as info:
            next(gen(3))
        assert info.value.value == "early"


def test_coroutine_awaits_the_async_evaluator(rec: Recorder) -> None:
    async def co(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    with rec.arm(co):
        assert inspect.iscoroutinefunction(co)
        assert asyncio.run(co(4)) == 8
        rec.value = -1
        assert asyncio.run(co(4)) == -1


def test_coroutine_can_be_cancelled_while_the_prologue_awaits(rec: Recorder) -> None:
    async def co() -> str:
        return "body"

    rec.sleep = 10.0

    async def main() -> str:
        task = asyncio.create_task(co())
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "finished"

    with rec.arm(co):
        assert asyncio.run(main()) == "cancelled"
        rec.sleep = 0.0
        assert asyncio.run(co()) == "body"


def test_coroutine_prologue_exception_propagates(rec: Recorder) -> None:
    async def co() -> str:
        return "body"

    rec.error = OSError("disk")
    with rec.arm(co), pytest.raises(OSError, match="disk"):
        asyncio.run(co())


def test_async_generator_stops_when_a_value_fires(rec: Recorder) -> None:
    async def agen(n: int) -> Any:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def collect() -> list[int]:
        return [i async for i in agen(3)]

    with rec.arm(agen):
        assert inspect.isasyncgenfunction(agen)
        assert asyncio.run(collect()) == [0, 1, 2]
        rec.value = "anything"
        assert asyncio.run(collect()) == []


def test_body_line_numbers_survive_in_tracebacks(rec: Recorder) -> None:
    def broken() -> float:
        x = 1
        return x / 0

    expected_line = broken.__code__.co_firstlineno + 2
    with rec.arm(broken):
        try:
            broken()
        except ZeroDivisionError as exc:
            frames = traceback.extract_tb(exc.__traceback__)
        assert frames[-1].name == "broken"
        assert frames[-1].lineno == expected_line


def test_injected_exception_points_at_the_def_line(rec: Recorder) -> None:
    def target() -> None:
        pass

    rec.error = TimeoutError("injected")
    with rec.arm(target):
        try:
            target()
        except TimeoutError as exc:
            frames = traceback.extract_tb(exc.__traceback__)
    names = [f.name for f in frames]
    assert names[-2:] == ["target", "evaluate"]
    assert frames[-2].lineno == target.__code__.co_firstlineno


def test_functools_wraps_metadata_untouched(rec: Recorder) -> None:
    def f() -> None:
        """Docs."""

    f.custom = 1  # type: ignore[attr-defined]

    @functools.wraps(f)
    def wrapper() -> None:
        return f()

    with rec.arm(f):
        assert (f.__name__, f.__doc__, f.custom) == ("f", "Docs.", 1)  # type: ignore[attr-defined]
        assert wrapper.__wrapped__ is f  # type: ignore[attr-defined]


def test_same_name_twice_is_refused(rec: Recorder) -> None:
    def f() -> None:
        pass

    with rec.arm(f, "one"), pytest.raises(ConfigError, match="already armed"):
        rec.arm(f, "one")


def test_different_names_stack_and_unwind_in_any_order(rec: Recorder) -> None:
    def f() -> str:
        return "body"

    original = f.__code__
    first = rec.arm(f, "first")
    second = rec.arm(f, "second")
    assert f() == "body"
    assert rec.calls == ["first", "second"]  # arming order
    first.disarm()
    assert second.active and not first.active
    assert f() == "body"
    assert rec.calls[-1:] == ["second"] and len(rec.calls) == 3
    second.disarm()
    assert f.__code__ is original
    assert not codeswap.is_armed(f)


def test_non_python_functions_are_refused(rec: Recorder) -> None:
    with pytest.raises(ConfigError, match="only Python functions"):
        rec.arm(len)


def test_default_evaluators_come_from_the_registry(fp_name: str) -> None:
    from chaoskit.failpoints import registry

    def f() -> str:
        return "body"

    with codeswap.arm(f, fp_name):
        assert f() == "body"
        with registry.enabled(fp_name, "return(registry)"):
            assert f() == "registry"


def test_running_version_is_supported() -> None:
    assert sys.version_info >= (3, 11)


def test_zero_argument_super_and_captured_arguments(rec: Recorder) -> None:
    class Base:
        def greet(self, who: str) -> str:
            return f"hello {who}"

    class Child(Base):
        def greet(self, who: str) -> str:
            def shout() -> str:
                return who.upper()  # `who` becomes a cell

            return super().greet(shout())

    with rec.arm(vars(Child)["greet"]):
        assert Child().greet("bob") == "hello BOB"
        rec.value = "stub"
        assert Child().greet("bob") == "stub"


def test_exception_handlers_in_the_body_still_work(rec: Recorder) -> None:
    def guarded(x: int) -> str:
        try:
            1 / x
        except ZeroDivisionError:
            return "caught"
        finally:
            pass
        with open(__file__) as fh:
            fh.readline()
        return "fine"

    async def aguarded(x: int) -> str:
        try:
            await asyncio.sleep(0)
            1 / x
        except ZeroDivisionError:
            return "caught"
        return "fine"

    with rec.arm(guarded), rec.arm(aguarded):
        assert (guarded(0), guarded(1)) == ("caught", "fine")
        assert (asyncio.run(aguarded(0)), asyncio.run(aguarded(1))) == ("caught", "fine")
        rec.sleep = 0.001
        assert asyncio.run(aguarded(0)) == "caught"


def test_generator_send_and_throw_after_arming(rec: Recorder) -> None:
    def echo() -> Any:
        received = []
        try:
            while True:
                received.append((yield len(received)))
        except GeneratorExit:
            raise
        except ValueError:
            yield "handled"

    with rec.arm(echo):
        g = echo()
        assert next(g) == 0
        assert g.send("a") == 1
        assert g.throw(ValueError) == "handled"
        g.close()
