"""Exceptions raised inside the scope, and whether they were handled there or escaped."""

from __future__ import annotations

import asyncio

import pytest

from chaoskit.errors import ChaosPanic
from chaoskit.hooks.probe import probe

SOURCE = """
import contextlib
import json

def boom(n):
    if n == 0:
        raise KeyError("bottom")
    boom(n - 1)

def catch_far(n):
    try:
        boom(n)
    except KeyError:
        return "caught"

def catch_here():
    try:
        raise ValueError("local")
    except ValueError:
        pass
    return 1

def cleanup_then_escape(n):
    try:
        boom(n)
    finally:
        helper()

def helper():
    return None

def suppressed():
    with contextlib.suppress(LookupError):
        boom(2)
    return 2

def parse(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None

def convert():
    try:
        boom(1)
    except KeyError as exc:
        raise RuntimeError("converted") from exc

def retry(times):
    for attempt in range(times):
        try:
            raise TimeoutError(f"attempt {attempt}")
        except TimeoutError:
            continue
    return times

def iterate():
    it = iter([1, 2])
    total = sum(x for x in it)
    return next(it, total)

def panicky(exc):
    try:
        raise exc
    except Exception:
        return "recovered"

async def failing_task():
    await asyncio.sleep(0)
    raise OSError("task failed")

import asyncio
"""


def records(p):
    return [(e.function.split(":", 1)[1], e.exc_type, e.handled) for e in p.exceptions]


def test_handled_several_frames_up_is_one_record(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p:
        assert mod.catch_far(4) == "caught"
    assert records(p) == [("boom", "KeyError", True)]
    assert p.exceptions[0].message == "'bottom'"


def test_handled_in_the_raising_function(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p:
        mod.catch_here()
    assert records(p) == [("catch_here", "ValueError", True)]


def test_escaping_the_scope_is_not_handled(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p, pytest.raises(KeyError):
        mod.boom(3)
    assert records(p) == [("boom", "KeyError", False)]


def test_finally_that_reraises_does_not_count_as_handled(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p, pytest.raises(KeyError):
        mod.cleanup_then_escape(2)
    assert records(p) == [("boom", "KeyError", False)]


def test_context_manager_suppression_counts_as_handled(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p:
        assert mod.suppressed() == 2
    assert records(p) == [("boom", "KeyError", True)]


def test_exception_from_code_outside_the_scope(make_module, exc_backend):
    """json.loads raises in the json package; the scope sees it arrive in parse()."""
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p:
        assert mod.parse("{nope") is None
    assert records(p) == [("parse", "JSONDecodeError", True)]


def test_converted_exception_is_two_records(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p, pytest.raises(RuntimeError):
        mod.convert()
    assert records(p) == [("boom", "KeyError", True), ("convert", "RuntimeError", False)]


def test_each_retry_is_recorded(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p:
        mod.retry(3)
    assert records(p) == [("retry", "TimeoutError", True)] * 3
    assert [e.message for e in p.exceptions] == ["attempt 0", "attempt 1", "attempt 2"]


def test_iteration_protocol_exceptions_are_ignored(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p:
        assert mod.iterate() == 3
    assert records(p) == []


def test_injected_faults_are_marked(make_module, exc_backend):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend=exc_backend) as p:
        mod.panicky(ChaosPanic("injected"))
        mod.panicky(ValueError("real"))
    assert [(e.exc_type, e.injected, e.handled) for e in p.exceptions] == [
        ("ChaosPanic", True, True),
        ("ValueError", False, True),
    ]


def test_task_exception_escapes(make_module, exc_backend):
    mod = make_module(SOURCE)

    async def main():
        results = await asyncio.gather(mod.failing_task(), return_exceptions=True)
        assert isinstance(results[0], OSError)

    with probe(mod.__name__, backend=exc_backend) as p:
        asyncio.run(main())
    assert records(p) == [("failing_task", "OSError", False)]


def test_setprofile_backend_reports_depths_but_no_exceptions(make_module):
    mod = make_module(SOURCE)
    with probe(mod.__name__, backend="setprofile") as p:
        mod.catch_far(3)
    assert p.exceptions == []
    assert p.max_depths[f"{mod.__name__}:boom"] == 4


def test_exception_events_are_capped_per_iteration(make_module, exc_backend, monkeypatch):
    from chaoskit.events import EventBus, ExceptionRaised, IterationStarted
    from chaoskit.hooks import probe_state

    monkeypatch.setattr(probe_state, "MAX_EXCEPTION_EVENTS_PER_ITERATION", 5)
    mod = make_module(SOURCE)
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append, (ExceptionRaised,))
    with probe(mod.__name__, bus=bus, backend=exc_backend) as p:
        bus.publish(IterationStarted(iteration=0))
        mod.retry(8)
        mod.panicky(ChaosPanic("always published"))
    assert len(p.exceptions) == 9  # every record is kept on the probe
    assert [e.exc_type for e in seen] == ["TimeoutError"] * 5 + ["ChaosPanic"]
