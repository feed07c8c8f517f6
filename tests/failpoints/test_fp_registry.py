"""Registry behaviour: scopes, exact counts, status, waiting, pausing, seeded firings."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from chaoskit.errors import ConfigError
from chaoskit.failpoints import failpoint, registry
from chaoskit.rng import reseed_global


def test_inject_returns_value_or_none(fp_name: str) -> None:
    assert failpoint.inject(fp_name) is None
    with failpoint.enabled(fp_name, "1*return(7)->print(after)"):
        assert failpoint.inject(fp_name) == 7
        assert failpoint.inject(fp_name) is None


def test_inject_async_awaits_instead_of_blocking(fp_name: str) -> None:
    async def main() -> tuple[object, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.create_task(ticker())
        value = await failpoint.inject_async(fp_name)
        stop.set()
        await t
        return value, ticks

    with failpoint.enabled(fp_name, "sleep(100ms)->return(1)"):
        value, ticks = asyncio.run(main())
    assert value is None  # sleep fired, the chain stops there
    assert ticks >= 4


def test_inject_async_call_awaits_coroutine_functions(fp_name: str) -> None:
    with failpoint.enabled(fp_name, "call(tests_fp_helpers:async_answer)"):
        assert asyncio.run(failpoint.inject_async(fp_name)) == 43


def test_counts_are_exact_under_eight_threads(fp_name: str) -> None:
    failpoint.enable(fp_name, "1000*return(1)")
    results = [0] * 8
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(400):
            results[i] += failpoint.inject(fp_name) or 0

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = failpoint.status()[fp_name]
    assert sum(results) == 1000
    assert st.fired == 1000
    assert st.hits == 3200
    assert st.per_term[0].remaining == 0
    assert registry.counts(fp_name) == (3200, 1000)


def test_status_reports_terms_hits_and_firings_per_term(fp_name: str) -> None:
    failpoint.enable(fp_name, "2*off->1*return(1)")
    for _ in range(5):
        failpoint.inject(fp_name)
    st = failpoint.status()[fp_name]
    assert st.terms == "2*off->1*return(1)"
    assert st.hits == 5
    assert [(t.term, t.fired, t.remaining) for t in st.per_term] == [
        ("2*off", 2, 0),
        ("1*return(1)", 1, 0),
    ]
    assert st.to_dict()["per_term"][1]["fired"] == 1
    assert failpoint.status("other") == {}


def test_enabled_restores_the_previous_setting(fp_name: str) -> None:
    failpoint.enable(fp_name, "return(outer)")
    with failpoint.enabled(fp_name, "return(inner)"):
        assert failpoint.inject(fp_name) == "inner"
    assert failpoint.inject(fp_name) == "outer"
    failpoint.disable(fp_name)
    with failpoint.enabled(fp_name, "return(x)"):
        assert failpoint.is_active(fp_name)
    assert not failpoint.is_active(fp_name)
    assert fp_name not in registry._live


def test_off_terms_disable(fp_name: str) -> None:
    failpoint.enable(fp_name, "return(1)")
    failpoint.enable(fp_name, "off")
    assert not failpoint.is_active(fp_name)


def test_bad_terms_change_nothing(fp_name: str) -> None:
    failpoint.enable(fp_name, "return(1)")
    with pytest.raises(ConfigError, match=fp_name):
        failpoint.enable(fp_name, "retrun(2)")
    assert failpoint.inject(fp_name) == 1


def test_scopes_isolate_threads(fp_name: str) -> None:
    """Two threads, each in its own scope, see only their own settings."""
    results: dict[str, list[object]] = {}
    ready = threading.Barrier(2)

    def worker(label: str) -> None:
        with failpoint.scope(label):
            failpoint.enable(fp_name, f"return({label})")
            ready.wait()
            results[label] = [failpoint.inject(fp_name) for _ in range(50)]
            ready.wait()

    threads = [threading.Thread(target=worker, args=(x,)) for x in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": ["a"] * 50, "b": ["b"] * 50}
    assert failpoint.inject(fp_name) is None
    assert fp_name not in registry._live


def test_scopes_isolate_asyncio_tasks(fp_name: str) -> None:
    async def task(label: str, gate: asyncio.Event) -> list[object]:
        with failpoint.scope(label):
            failpoint.enable(fp_name, f"return({label})")
            await gate.wait()
            out = []
            for _ in range(20):
                out.append(await failpoint.inject_async(fp_name))
                await asyncio.sleep(0)
            return out

    async def main() -> list[list[object]]:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(task(x, gate)) for x in ("x", "y")]
        await asyncio.sleep(0.01)
        gate.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == [["x"] * 20, ["y"] * 20]


def test_scope_falls_back_to_parent_and_can_mask_it(fp_name: str) -> None:
    failpoint.enable(fp_name, "return(root)")
    with failpoint.scope():
        assert failpoint.inject(fp_name) == "root"
        failpoint.disable(fp_name)
        assert failpoint.inject(fp_name) is None
        assert failpoint.status() == {}
    assert failpoint.inject(fp_name) == "root"


def test_decorated_function_in_scope_stays_original_elsewhere(fp_name: str) -> None:
    @failpoint(fp_name)
    def op() -> str:
        return "body"

    seen: list[str] = []
    with failpoint.scope():
        failpoint.enable(fp_name, "return(scoped)")
        t = threading.Thread(target=lambda: seen.append(op()))
        t.start()
        t.join()
        ctx = contextvars.copy_context()
        seen.append(ctx.run(op))
    assert seen == ["body", "scoped"]
    assert op() == "body"


def test_wait_until_hit_sees_a_paused_thread(fp_name: str) -> None:
    failpoint.enable(fp_name, "pause")
    done = threading.Event()

    def worker() -> None:
        failpoint.inject(fp_name)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    assert failpoint.wait_until_hit(fp_name, timeout=10)
    time.sleep(0.05)
    assert not done.is_set()  # still paused
    failpoint.enable(fp_name, "off")  # reconfiguring releases it
    t.join(10)
    assert done.is_set()


def test_wait_until_hit_times_out(fp_name: str) -> None:
    start = time.perf_counter()
    assert not failpoint.wait_until_hit(fp_name, timeout=0.1)
    assert time.perf_counter() - start < 5
    assert fp_name not in registry._live


def test_wait_until_hit_counts_hits_of_an_inactive_name(fp_name: str) -> None:
    t = threading.Timer(0.05, lambda: failpoint.inject(fp_name))
    t.start()
    assert failpoint.wait_until_hit(fp_name, timeout=10)
    t.join()


def test_async_pause_releases_on_disable(fp_name: str) -> None:
    async def main() -> str:
        failpoint.enable(fp_name, "pause")
        task = asyncio.create_task(failpoint.inject_async(fp_name))
        await asyncio.sleep(0.05)
        assert not task.done()
        failpoint.disable(fp_name)
        await asyncio.wait_for(task, 5)
        return "released"

    assert asyncio.run(main()) == "released"


def test_seed_reproduces_firings(fp_name: str) -> None:
    def pattern() -> list[bool]:
        reseed_global(2024)
        with failpoint.enabled(fp_name, "30%return(1)"):
            return [failpoint.inject(fp_name) == 1 for _ in range(200)]

    first, second = pattern(), pattern()
    assert first == second
    assert 30 < sum(first) < 90


def test_watch_reports_transitions(fp_name: str) -> None:
    seen: list[bool] = []
    unwatch = registry.watch(fp_name, seen.append)
    failpoint.enable(fp_name, "return(1)")
    failpoint.enable(fp_name, "return(2)")  # still active: no new call
    with failpoint.scope():
        failpoint.enable(fp_name, "return(3)")
    failpoint.disable(fp_name)
    unwatch()
    failpoint.enable(fp_name, "return(4)")
    assert seen == [True, False]


def test_watch_called_at_once_when_already_active(fp_name: str) -> None:
    failpoint.enable(fp_name, "return(1)")
    seen: list[bool] = []
    registry.watch(fp_name, seen.append)()
    assert seen == [True]


def test_broken_watcher_is_removed_and_does_not_break_enable(fp_name: str) -> None:
    def broken(active: bool) -> None:
        raise RuntimeError("watcher bug")

    registry.watch(fp_name, broken)
    failpoint.enable(fp_name, "return(1)")
    assert failpoint.inject(fp_name) == 1
    assert broken not in registry._watchers.get(fp_name, [])


def test_evaluate_distinguishes_no_value_from_none(fp_name: str) -> None:
    assert registry.evaluate(fp_name) is registry.NO_VALUE
    with failpoint.enabled(fp_name, "return(None)"):
        assert registry.evaluate(fp_name) is None
    assert repr(registry.NO_VALUE) == "NO_VALUE" and not registry.NO_VALUE


def test_bad_names_are_config_errors() -> None:
    for bad in ("", "has space"):
        with pytest.raises(ConfigError):
            failpoint.enable(bad, "off")


def test_inject_runs_no_op_code_while_nothing_is_live(fp_name: str) -> None:
    """The fast path: with nothing enabled anywhere, inject is a plain no-op function."""
    inject = failpoint.inject  # a reference taken before enabling
    plain = registry.inject
    off_codes = (type(failpoint).inject.__code__, plain.__code__)
    assert all(code.co_names == () for code in off_codes)  # they look nothing up
    failpoint.enable(fp_name, "return(1)")
    assert type(failpoint).inject.__code__ is not off_codes[0]
    assert inject(fp_name) == 1 and plain(fp_name) == 1
    assert asyncio.run(failpoint.inject_async(fp_name)) == 1
    failpoint.disable(fp_name)
    assert (type(failpoint).inject.__code__, plain.__code__) == off_codes
    assert inject(fp_name) is None


def test_fork_child_can_use_failpoints(fp_name: str) -> None:
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    failpoint.enable(fp_name, "return(7)")
    with registry._lock:  # held by this thread at fork time
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                ok = failpoint.inject(fp_name) == 7
                failpoint.enable(fp_name + "-child", "return(1)")
                ok = ok and failpoint.inject(fp_name + "-child") == 1
            finally:
                os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
