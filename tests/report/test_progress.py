"""Progress: a rich live panel on a terminal, periodic log lines elsewhere."""

from __future__ import annotations

import io
from typing import Any

from report_events import make_events

from chaoskit.events import EventBus
from chaoskit.report.progress import Progress


class Collector:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def __call__(self, msg: str, **fields: Any) -> None:
        self.lines.append({"msg": msg, **fields})


def test_non_tty_logs_periodic_lines_and_a_final_one() -> None:
    log = Collector()
    bus = EventBus()
    stream = io.StringIO()  # not a TTY
    with Progress("checkout-saga", 20, None, stream, interval=0.0, log=log).attach(bus) as p:
        assert p.live is False
        for ev in make_events():
            bus.publish(ev)
    assert len(log.lines) == 21  # one per iteration (interval 0) and the final one
    final = log.lines[-1]
    assert final["final"] is True
    assert final["iterations"] == 20 and final["failed"] == 3 and final["total"] == 20
    assert final["success_rate"] == 0.85
    assert final["failures_by_kind"] == {"TimeoutError": 3}
    assert final["remaining"] == 0
    assert stream.getvalue() == ""


def test_non_tty_respects_the_interval() -> None:
    log = Collector()
    bus = EventBus()
    p = Progress("s", 20, None, io.StringIO(), interval=3600, log=log).attach(bus)
    for ev in make_events():
        bus.publish(ev)
    assert log.lines == []
    p.close()
    p.close()  # idempotent
    assert len(log.lines) == 1
    bus.publish(make_events()[0])  # detached: no error, nothing counted
    assert p.state.done == 20


def test_live_display_draws_the_panel() -> None:
    stream = io.StringIO()
    bus = EventBus()
    with Progress("checkout-saga", 20, None, stream, live=True).attach(bus) as p:
        for ev in make_events():
            bus.publish(ev)
        line = p.line()
    out = stream.getvalue()
    assert "chaoskit checkout-saga" in out
    assert "20 / 20" in out
    assert "TimeoutError x3" in out
    assert "85.00%" in out
    assert line.startswith("checkout-saga: 20/20 100%")


def test_run_for_remaining_comes_from_the_clock() -> None:
    p = Progress("s", None, 3600.0, io.StringIO(), log=Collector())
    remaining = p.state.remaining
    assert remaining is not None and 3590 < remaining <= 3600
    assert "remaining 59:5" in p.line()
