"""Edge cases found by trying the documented failpoint surface as a new user would."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import chaoskit as ck
from chaoskit import injectors, validators
from chaoskit.failpoints import failpoint, parse_terms, registry
from chaoskit.failpoints.sources import FileSource


def test_enabled_restores_the_previous_setting_with_its_counters(fp_name: str) -> None:
    """A used-up ``1*return`` must stay used up after a nested ``enabled`` block."""
    failpoint.enable(fp_name, "1*return(1)")
    assert failpoint.inject(fp_name) == 1
    with failpoint.enabled(fp_name, "return(2)"):
        assert failpoint.inject(fp_name) == 2
    assert failpoint.inject(fp_name) is None
    (term,) = failpoint.status(fp_name)[fp_name].per_term
    assert (term.fired, term.remaining) == (1, 0)
    assert failpoint.hit_count(fp_name) == failpoint.status(fp_name)[fp_name].hits == 2


def test_restored_pause_still_pauses(fp_name: str) -> None:
    """Replacing a ``pause`` releases its waiters; the restored one must pause again."""
    import threading

    failpoint.enable(fp_name, "pause")
    with failpoint.enabled(fp_name, "off"):
        pass
    done = threading.Event()
    worker = threading.Thread(target=lambda: (failpoint.inject(fp_name), done.set()))
    worker.start()
    try:
        assert not done.wait(0.3)
    finally:
        failpoint.disable(fp_name)
        worker.join(5)
    assert done.is_set()


def test_scenario_injector_restores_the_previous_setting_with_its_counters(
    fp_name: str,
) -> None:
    failpoint.enable(fp_name, "1*return(1)")
    assert failpoint.inject(fp_name) == 1
    s = (
        ck.scenario("fp")
        .step("s", lambda t: failpoint.inject(fp_name))
        .inject("faults", injectors.failpoints({fp_name: "return(2)"}))
        .repeat(3)
        .build()
    )
    assert ck.run(s, log_level="critical").failpoints[fp_name] == {"hits": 3, "fired": 3}
    assert failpoint.inject(fp_name) is None


@pytest.mark.parametrize(
    ("terms", "seconds"),
    [('sleep("100ms")', 0.1), ('sleep("1s")', 1.0), ("delay('200us')", 0.0002)],
)
def test_gofail_quoted_durations_are_accepted(terms: str, seconds: float) -> None:
    """gofail writes ``sleep("100ms")`` (a Go duration string)."""
    parsed = parse_terms(terms)
    duration = parsed.terms[0].args[0]
    assert duration.low == pytest.approx(seconds)  # type: ignore[attr-defined]
    assert parse_terms(str(parsed)) == parsed


def test_gofail_quoted_sleep_sleeps(fp_name: str) -> None:
    with failpoint.enabled(fp_name, 'sleep("50ms")'):
        t0 = time.perf_counter()
        failpoint.inject(fp_name)
        assert time.perf_counter() - t0 >= 0.045


def test_quoted_bad_duration_is_still_an_error() -> None:
    with pytest.raises(ck.ConfigError, match="bad duration 'x'"):
        parse_terms('sleep("x")')


def test_file_source_never_applies_a_half_written_file(tmp_path: Path, fp_name: str) -> None:
    """An in-place rewrite truncates the file first; a poll landing in that gap must not
    disable the entries (and restart their counters). Polls are driven by hand here."""
    path = tmp_path / "fp.txt"
    content = f"{fp_name}=return(1)\n"
    path.write_text(content)
    transitions: list[bool] = []
    source = FileSource(path, interval=3600)  # the thread never polls on its own
    source.start()
    unwatch = registry.watch(fp_name, transitions.append)
    try:
        for _ in range(3):
            path.write_text("")  # a poll lands while the file is truncated...
            assert source.poll() is False
            path.write_text(content)  # ...and the write completes before the next one
            assert source.poll() is False
        assert failpoint.inject(fp_name) == 1
        assert transitions == [True]  # watch() reports the state it found, then no change
        # a real edit that stays put is applied at the second poll that sees it
        path.write_text("")
        assert source.poll() is False
        assert source.poll() is True
        assert transitions == [True, False]
    finally:
        unwatch()
        source.stop()


def test_a_paused_step_is_ended_by_the_hang_watchdog_without_waiting_for_release(
    fp_name: str,
) -> None:
    """``pause`` waits in slices, so the watchdog's exception reaches the thread (the run
    used to wait out the stop grace and abandon the worker)."""
    s = (
        ck.scenario("paused")
        .step("s", lambda t: failpoint.inject(fp_name))
        .inject("fp", injectors.failpoints({fp_name: "pause"}))
        .check("hang", validators.no_infinite_loop("200ms"))
        .repeat(2)
        .build()
    )
    t0 = time.monotonic()
    report = ck.Executor(log_level="critical").run(s)  # stop_grace 5 s
    assert time.monotonic() - t0 < 4.0
    assert report.interrupt_reason == "hang"
    assert "still running" in report.verdicts["hang"].message
    assert "abandoned" not in report.verdicts["hang"].message
