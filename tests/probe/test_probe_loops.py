"""Hangs: which function in scope a stuck thread loops in, and how many iterations."""

from __future__ import annotations

import sys
import threading

import chaoskit as ck
from chaoskit import validators
from chaoskit.events import LoopDetected
from chaoskit.hooks.probe import active_probes, probe

SOURCE = """
import time

def spin(stop):
    n = 0
    while not stop.is_set():
        n += 1
    return n

def poll_forever(stop):
    while not stop.is_set():
        check()

def check():
    return 1

def blocked(event):
    event.wait(timeout=30)

def spin_until_interrupted(seconds):
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return n
"""


def _in_thread(target, *args):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def test_loop_info_names_the_looping_function_and_counts(make_module, backend):
    mod = make_module(SOURCE)
    stop = threading.Event()
    with probe(mod.__name__, backend=backend) as p:
        t = _in_thread(mod.spin, stop)
        try:
            info = p.loop_info(t.ident, window=0.2)
        finally:
            stop.set()
            t.join()
    assert info is not None
    function, count = info
    assert function == f"{mod.__name__}:spin"
    if backend == "setprofile":
        assert count == 0  # calls and returns only: no loop counting
    else:
        assert count > 100


def test_loop_calling_helpers_is_attributed_to_the_loop(make_module, backend):
    mod = make_module(SOURCE)
    stop = threading.Event()
    with probe(mod.__name__, backend=backend) as p:
        t = _in_thread(mod.poll_forever, stop)
        try:
            info = p.loop_info(t.ident, window=0.2)
        finally:
            stop.set()
            t.join()
    assert info is not None
    if backend != "setprofile":
        assert info[0] == f"{mod.__name__}:poll_forever"
        assert info[1] > 10
    else:
        assert info[0] in {f"{mod.__name__}:poll_forever", f"{mod.__name__}:check"}


def test_blocked_thread_reports_zero_iterations(make_module, backend):
    mod = make_module(SOURCE)
    release = threading.Event()
    with probe(mod.__name__, backend=backend) as p:
        t = _in_thread(mod.blocked, release)
        try:
            for _ in range(100):
                info = p.loop_info(t.ident, window=0.05)
                if info is not None:
                    break
        finally:
            release.set()
            t.join()
    assert info == (f"{mod.__name__}:blocked", 0)


def test_thread_outside_the_scope_has_no_loop_info(make_module, backend):
    mod = make_module(SOURCE)
    release = threading.Event()
    t = _in_thread(release.wait, 30)
    with probe(mod.__name__, backend=backend) as p:
        assert p.loop_info(t.ident, window=0.05) is None
        assert p.loop_info(123456789, window=0.05) is None
    release.set()
    t.join()
    assert p.loop_info(threading.get_ident()) is None  # stopped probes say nothing


def test_active_probes_lists_running_probes(make_module):
    mod = make_module(SOURCE)
    assert active_probes() == []
    with probe(mod.__name__) as a:
        assert active_probes() == [a]
        with probe(f"{mod.__name__}:spin") as b:
            assert active_probes() == [a, b]
        assert active_probes() == [a]
    assert active_probes() == []


def test_hang_validator_reports_the_looping_function(make_module):
    """no_infinite_loop asks the scenario's probe where the stuck iteration loops."""
    mod = make_module(SOURCE)
    hang = validators.no_infinite_loop(0.5)
    scenario = (
        ck.scenario("hang")
        .step("spin", lambda _target: mod.spin_until_interrupted(20))
        .probe(mod.__name__)
        .check("no-hang", hang)
        .repeat(1)
        .build()
    )
    previous = sys.gettrace()
    sys.settrace(None)  # on 3.11 under coverage the probe would fall back to setprofile
    try:
        report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE).run(scenario)
    finally:
        sys.settrace(previous)
    assert not report.passed
    assert len(hang.detections) == 1
    event = hang.detections[0]
    assert isinstance(event, LoopDetected)
    assert event.function == f"{mod.__name__}:spin_until_interrupted"
    assert event.loop_iterations is not None and event.loop_iterations > 0
