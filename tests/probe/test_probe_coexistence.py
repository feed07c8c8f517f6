"""Living with other tools: coverage.py, debuggers, other probes, threads; clean exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from chaoskit.hooks.probe import probe
from chaoskit.hooks.probe_sysmon import free_tool_id

SOURCE = """
def down(n):
    return 0 if n == 0 else 1 + down(n - 1)

def wait_then_dive(start, go, n):
    start.set()
    go.wait(timeout=30)
    return down(n)
"""

SCRIPT = """
import sys
sys.path.insert(0, {path!r})
import chaoskit.hooks
import covtarget

with chaoskit.hooks.probe("covtarget") as p:
    covtarget.down(25)
print("DEPTH", p.max_depths["covtarget:down"])
print("BACKEND", p.backend)
print("REASON", p.backend_reason)
print("TRACE_AFTER", type(sys.gettrace()).__name__)
"""


def _coverage_run(tmp_path: Path, core: str | None) -> tuple[dict[str, str], dict[str, object]]:
    (tmp_path / "covtarget.py").write_text(textwrap.dedent(SOURCE))
    script = tmp_path / "main.py"
    script.write_text(SCRIPT.format(path=str(tmp_path)))
    env = dict(os.environ)
    env.pop("COVERAGE_PROCESS_START", None)
    if core is not None:
        env["COVERAGE_CORE"] = core
    data = tmp_path / ".coverage"
    out = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--data-file={data}", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    lines = dict(
        line.split(" ", 1) for line in out.stdout.splitlines() if line.split(" ")[0].isupper()
    )
    subprocess.run(
        [sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", "cov.json"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    report = json.loads((tmp_path / "cov.json").read_text())
    return lines, report


def _executed(report: dict[str, object], filename: str) -> list[int]:
    files = report["files"]
    assert isinstance(files, dict)
    for name, entry in files.items():
        if name.endswith(filename):
            return list(entry["executed_lines"])
    raise AssertionError(f"{filename} not in coverage data: {list(files)}")


def test_coverage_default_core_keeps_measuring(tmp_path):
    lines, report = _coverage_run(tmp_path, None)
    assert lines["DEPTH"] == "26"
    # coverage measured the code that ran under the probe: down()'s body, line 3
    assert 3 in _executed(report, "covtarget.py")
    # and the probe did not take coverage's place
    if sys.version_info < (3, 12):
        assert lines["BACKEND"] == "setprofile"
        assert "settrace is taken" in lines["REASON"]
        assert lines["TRACE_AFTER"] == "CTracer"
    else:
        assert lines["BACKEND"] == "sys.monitoring"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="coverage's sysmon core needs 3.12+")
def test_coverage_sysmon_core_keeps_measuring(tmp_path):
    lines, report = _coverage_run(tmp_path, "sysmon")
    assert lines["DEPTH"] == "26"
    assert lines["BACKEND"] == "sys.monitoring"
    assert 3 in _executed(report, "covtarget.py")


def _is_probe_function(fn: object) -> bool:
    return fn is not None and getattr(fn, "__module__", "").startswith("chaoskit.")


class _Debugger:
    """A settrace user like pdb or an IDE: counts calls of the functions it sees."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.calls = 0

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename == self.filename and event == "call":
            self.calls += 1
        return None


def test_debugger_settrace_is_kept(make_module):
    mod = make_module(SOURCE)
    debugger = _Debugger(mod.__file__)
    previous = sys.gettrace()  # coverage's, when the suite runs under coverage
    sys.settrace(debugger)
    try:
        with probe(mod.__name__) as p:
            mod.down(10)
        assert sys.gettrace() is debugger
    finally:
        sys.settrace(previous)
    assert debugger.calls == 11
    assert p.max_depths[f"{mod.__name__}:down"] == 11
    assert p.backend == ("setprofile" if sys.version_info < (3, 12) else "sys.monitoring")


def test_debugger_attaching_while_the_probe_runs_is_left_alone(make_module, backend):
    mod = make_module(SOURCE)
    debugger = _Debugger(mod.__file__)
    previous = sys.gettrace()
    try:
        with probe(mod.__name__, backend=backend):
            sys.settrace(debugger)
            mod.down(3)
        assert sys.gettrace() is debugger
    finally:
        sys.settrace(previous)
    assert debugger.calls == 4


def test_existing_profile_function_is_chained(make_module):
    mod = make_module(SOURCE)
    events = []

    def profiler(frame, event, arg):
        if frame.f_code is mod.down.__code__:
            events.append(event)

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        with probe(mod.__name__, backend="setprofile") as p:
            mod.down(2)
        assert sys.getprofile() is profiler
    finally:
        sys.setprofile(previous)
    assert events.count("call") == 3
    assert p.max_depths[f"{mod.__name__}:down"] == 3


def test_threads_started_after_the_probe_are_measured(make_module, backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=backend) as p:
        t = threading.Thread(target=mod.down, args=(40,))
        t.start()
        t.join()
    assert p.max_depths[f"{mod.__name__}:down"] == 41


def test_threads_started_before_the_probe(make_module, backend):
    """sys.monitoring covers every thread; on 3.11 the trace backends reach them too."""
    mod = make_module(SOURCE)
    start, go = threading.Event(), threading.Event()
    hooks = {}

    def worker():
        hooks["trace"], hooks["profile"] = sys.gettrace(), sys.getprofile()
        mod.wait_then_dive(start, go, 30)

    t = threading.Thread(target=worker)
    t.start()
    start.wait(timeout=30)
    with probe(mod.__name__, backend=backend) as p:
        go.set()
        t.join()
        mod.down(4)
    depth = p.max_depths[f"{mod.__name__}:down"]
    if p.backend == "sys.monitoring":
        assert depth == 31
    elif sys.version_info >= (3, 12):
        assert depth == 5  # the trace backends as a fallback: this thread and new ones only
    elif hooks[p.backend.removeprefix("set")] is not None:
        assert depth == 5  # that thread has its own tracer (coverage): left alone
    else:
        assert depth == 31
        assert "thread(s) already running" in p.backend_reason


def test_running_threads_are_left_clean_after_stop(make_module, backend):
    mod = make_module(SOURCE)
    ready, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        before = (sys.gettrace(), sys.getprofile())
        ready.set()
        release.wait(timeout=30)
        mod.down(2)
        seen["before"], seen["after"] = before, (sys.gettrace(), sys.getprofile())

    t = threading.Thread(target=worker)
    t.start()
    ready.wait(timeout=30)
    with probe(mod.__name__, backend=backend):
        pass
    release.set()
    t.join()
    assert seen["after"] == seen["before"]


def test_trace_functions_of_threads_are_dropped_after_stop(make_module, backend):
    mod = make_module(SOURCE)
    seen = {}
    ready, release = threading.Event(), threading.Event()
    before = {"trace": threading.gettrace(), "profile": threading.getprofile()}

    def worker():
        ready.set()
        release.wait(timeout=30)
        mod.down(2)
        seen["trace"] = sys.gettrace()
        seen["profile"] = sys.getprofile()

    with probe(mod.__name__, backend=backend):
        t = threading.Thread(target=worker)
        t.start()
        ready.wait(timeout=30)
    assert threading.gettrace() is before["trace"]
    assert threading.getprofile() is before["profile"]
    release.set()
    t.join()
    # the thread dropped the probe's function (coverage, if it runs, keeps its own)
    assert not any(_is_probe_function(fn) for fn in seen.values()), seen


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+ only")
def test_probes_take_free_tool_ids_then_fall_back(make_module):
    mod = make_module(SOURCE)
    b_trace_free = sys.gettrace() is None  # not under coverage's settrace core
    with probe(mod.__name__) as a, probe(mod.__name__) as b, probe(mod.__name__) as c:
        mod.down(5)
    assert (a.backend, a.tool_id) == ("sys.monitoring", 3)
    assert (b.backend, b.tool_id) == ("sys.monitoring", 4)
    assert c.backend == ("settrace" if b_trace_free else "setprofile")
    assert "no free sys.monitoring tool id" in c.backend_reason
    assert a.max_depths == b.max_depths == c.max_depths == {f"{mod.__name__}:down": 6}
    assert free_tool_id()[0] == 3
    assert sys.monitoring.get_tool(3) is None and sys.monitoring.get_tool(4) is None


def test_nested_probes_on_trace_backends(make_module):
    mod = make_module(SOURCE)
    with (
        probe(mod.__name__, backend="settrace") as a,
        probe(mod.__name__, backend="setprofile") as b,
    ):
        mod.down(7)
    assert a.max_depths == b.max_depths == {f"{mod.__name__}:down": 8}


def test_exception_in_the_block_still_restores(make_module, backend):
    mod = make_module(SOURCE)
    with pytest.raises(RuntimeError), probe(mod.__name__, backend=backend) as p:
        mod.down(3)
        raise RuntimeError("user code failed")
    assert not p.running
    assert p.max_depths[f"{mod.__name__}:down"] == 4


def test_internal_error_switches_the_probe_off_not_the_program(make_module, backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=backend) as p:
        recorder = p._recorder

        def broken(*args):
            raise RuntimeError("probe bug")

        recorder.name_of = broken
        assert mod.down(20) == 20  # the program is unaffected
        assert mod.down(5) == 5
    assert p.error is not None and "probe bug" in p.error
