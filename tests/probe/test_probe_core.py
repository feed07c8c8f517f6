"""The probe's two cores: the C accelerator is built and used, Python can be forced."""

from __future__ import annotations

import gc
import itertools
import shutil
import sys
import sysconfig
import threading
import tracemalloc
from pathlib import Path

import pytest

from chaoskit.errors import ConfigError
from chaoskit.hooks import probe_core
from chaoskit.hooks.probe import probe, select_backend

RECURSIVE = """
def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)

def boom(n):
    if n == 0:
        raise KeyError("bottom")
    boom(n - 1)

def catch(n):
    try:
        boom(n)
    except KeyError:
        return "caught"
"""


def c_core_has(backend: str) -> bool:
    module = probe_core.load()[0]
    return module is not None and probe_core.accelerates(backend, module)


def _can_build() -> bool:
    include = sysconfig.get_paths()["include"]
    return (Path(include) / "Python.h").exists() and shutil.which("cc") is not None


@pytest.mark.skipif(not _can_build(), reason="no C compiler or Python headers here")
def test_c_core_is_built_where_a_compiler_is():
    """A broken build of the optional extension fails here instead of passing silently."""
    module, why = probe_core.load()
    assert module is not None, why


def test_default_probe_runs_the_c_core_when_built(make_module, monkeypatch):
    monkeypatch.delenv(probe_core.ENV_VAR, raising=False)
    if probe_core.load()[0] is None:
        pytest.skip(probe_core.load()[1])
    mod = make_module(RECURSIVE)
    with probe(mod.__name__) as p:
        mod.fact(12)
    assert p.max_depths[f"{mod.__name__}:fact"] == 12
    if c_core_has(select_backend()[0]):
        assert p.core == "c"
        assert "C callbacks (chaoskit.hooks._probe_speedups)" in p.backend_reason
    else:
        assert p.core == "python"


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_python_core_can_be_forced(make_module, monkeypatch, how):
    mod = make_module(RECURSIVE)
    if how == "environment":
        monkeypatch.setenv(probe_core.ENV_VAR, "python")
        p = probe(mod.__name__)
    else:
        monkeypatch.delenv(probe_core.ENV_VAR, raising=False)
        p = probe(mod.__name__, core="python")
    with p:
        mod.fact(9)
    assert p.core == "python"
    assert "pure-Python callbacks (requested)" in p.backend_reason
    assert p.max_depths[f"{mod.__name__}:fact"] == 9


def test_unbuilt_c_core_falls_back_unless_forced(make_module, monkeypatch):
    monkeypatch.delenv(probe_core.ENV_VAR, raising=False)
    monkeypatch.setattr(probe_core, "_loaded", (None, "the C core is not built (test)"))
    mod = make_module(RECURSIVE)
    with probe(mod.__name__) as p:
        mod.fact(5)
    assert p.core == "python"
    assert "pure-Python callbacks: the C core is not built (test)" in p.backend_reason
    with pytest.raises(ConfigError, match="probe core unavailable"):
        probe(mod.__name__, core="c").start()


def test_unknown_core_is_a_config_error(make_module, monkeypatch):
    mod = make_module(RECURSIVE)
    monkeypatch.setenv(probe_core.ENV_VAR, "fortran")
    with pytest.raises(ConfigError, match="CHAOSKIT_PROBE_CORE") as info:
        probe(mod.__name__)
    assert "fortran" in str(info.value)
    monkeypatch.delenv(probe_core.ENV_VAR)
    with pytest.raises(ConfigError, match="fortran"):
        probe(mod.__name__, core="fortran")


# --- the C types themselves ---------------------------------------------------------------


@pytest.fixture
def speedups(monkeypatch):
    module, why = probe_core.load()
    if module is None:
        pytest.skip(why)
    monkeypatch.setenv(probe_core.ENV_VAR, "c")
    return module


def test_c_thread_state_behaves_like_the_python_one(speedups):
    st = speedups.ThreadState(1234)
    assert (st.ident, st.stack, st.exc) == (1234, [], None)
    a, b, c = (f.__code__ for f in (_can_build, c_core_has, test_unknown_core_is_a_config_error))
    st.stack.extend([a, b, a, b])
    st.resync_pop(a)  # not on top: it and everything above it go
    assert st.stack == [a, b]
    st.resync_pop(c)  # not on the stack at all: nothing happens
    assert st.stack == [a, b]
    marker = object()
    st.exc = marker  # type: ignore[assignment]
    assert st.exc is marker
    st.exc = None
    assert st.exc is None
    st.reset_peaks()


def test_c_tracker_counts_chains_like_the_python_callbacks(speedups):
    """push/pop driven by hand: direct recursion, a new chain after the outermost left."""
    peaks: list[tuple[str, int]] = []

    class Recorder:
        def register(self, st):
            self.st = st

        def new_peak(self, st, code, depth):
            peaks.append((code.co_name, depth))

        def fail(self, where, exc):
            raise AssertionError(f"{where}: {exc!r}")

        settle = raised = reraised = handled = unwound = fail

    f, g = _can_build.__code__, c_core_has.__code__
    tracker = speedups.Tracker(Recorder(), "monitoring")
    tracker.watch(f)
    tracker.watch(g)
    for code in (f, g, f, f):  # f -> g -> f -> f: f's chain is 3, then 4
        tracker.push(code, 0)
    assert tracker.state().stack == [f, g, f, f]
    for code in (f, f, g, f):
        tracker.pop(code, 0, None)
    tracker.push(f, 0)  # a new chain: depth 1, not above the peak of 4
    tracker.state().reset_peaks()
    tracker.push(g, 0)  # new iteration: g starts a chain above f
    tracker.push(f, 0)  # f's chain from its outermost frame: 3 again
    assert peaks == [
        ("_can_build", 1),
        ("c_core_has", 1),
        ("_can_build", 3),
        ("_can_build", 4),
        ("c_core_has", 1),
        ("_can_build", 3),
    ]


def test_c_states_are_per_thread(speedups):
    class Recorder:
        states: list[object] = []

        def register(self, st):
            self.states.append(st)

        def new_peak(self, st, code, depth):
            pass

        settle = raised = reraised = handled = unwound = fail = new_peak

    rec = Recorder()
    tracker = speedups.Tracker(rec, "monitoring")
    tracker.watch(_can_build.__code__)
    tracker.push(_can_build.__code__, 0)
    other = []
    t = threading.Thread(target=lambda: other.append(tracker.state()))
    t.start()
    t.join()
    mine = tracker.state()
    assert other[0] is not mine
    assert mine.stack == [_can_build.__code__] and other[0].stack == []
    assert rec.states == [mine, other[0]]
    assert other[0].ident == t.ident


class _Quiet:
    """A logger that drops everything (pytest keeps captured log lines in memory)."""

    def _drop(self, *args: object, **kwargs: object) -> None:
        return None

    debug = info = warning = error = _drop


def test_repeated_c_probes_leak_nothing(make_module, speedups, monkeypatch):
    """Start/stop many probes (with exceptions and threads): no Tracker or ThreadState, and
    no memory, is left behind."""
    monkeypatch.setattr(sys.modules["chaoskit.hooks.probe"], "_log", _Quiet())
    mod = make_module(RECURSIVE)

    def once() -> None:
        with probe(mod.__name__) as p:
            mod.fact(30)
            mod.catch(5)
            t = threading.Thread(target=mod.fact, args=(10,))
            t.start()
            t.join()
        assert p.core == "c" or not c_core_has(p.backend)

    def live() -> int:
        kinds = (speedups.Tracker, speedups.ThreadState)
        return sum(type(o) in kinds for o in gc.get_objects())

    for _ in range(50):  # warm up: caches, interned names, specialisation
        once()
    gc.collect()
    live_before = live()  # other tests in this process may still hold theirs
    tracemalloc.start()
    try:
        # free lists and arenas settle over the first rounds: a leak grows every round
        sizes = []
        for _ in range(4):
            for _ in range(100):
                once()
            gc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert live() <= live_before
    grown = [b - a for a, b in itertools.pairwise(sizes)]
    # a leaked Tracker (its scope index alone is 1 KiB) or thread state would be far more
    assert min(grown) < 100 * 100, f"bytes more per 100 probes: {grown}"
