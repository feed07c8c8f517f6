"""Property tests: any event history renders in every format, and folds the same twice."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit.events import (
    Event,
    FailpointFired,
    InjectionApplied,
    IterationFinished,
    RunFinished,
    RunStarted,
    ValidatorVerdict,
    dumps_events,
    event_from_dict,
)
from chaoskit.report.model import Report

NAMES = st.sampled_from(["threads", "slow", "state", "<x&y>"])
TEXT = st.text(max_size=40)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    ts = 1_700_000_000.0
    severities = {n: draw(st.sampled_from(["critical", "warning", "info"])) for n in draw(
        st.lists(NAMES, max_size=3, unique=True))}  # fmt: skip
    evs: list[Event] = [
        RunStarted(
            ts=ts,
            scenario=draw(TEXT),
            seed=draw(st.integers(0, 2**63 - 1)),
            validators=tuple(severities),
            severities=severities,
        )
    ]
    for i in range(draw(st.integers(0, 30))):
        ts += draw(st.floats(0, 2, allow_nan=False))
        if draw(st.booleans()):
            evs.append(InjectionApplied(ts=ts, iteration=i, injector=draw(TEXT) or "x",
                                        action="delay"))  # fmt: skip
        if draw(st.booleans()):
            evs.append(FailpointFired(ts=ts, iteration=i, name="fp", term="return", action="r"))
        if severities and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(severities)))
            evs.append(ValidatorVerdict(ts=ts, iteration=i, validator=name, passed=False,
                                        message=draw(TEXT), severity=severities[name]))  # fmt: skip
        ok = draw(st.booleans())
        evs.append(
            IterationFinished(ts=ts, iteration=i, duration=draw(st.floats(0, 5)), ok=ok,
                              step=None if ok else draw(st.one_of(st.none(), TEXT)),
                              error=None if ok else draw(TEXT),
                              error_type=None if ok else draw(st.one_of(st.none(), TEXT)))
        )  # fmt: skip
    if draw(st.booleans()):
        evs.append(RunFinished(ts=ts, scenario="s", duration=ts - 1_700_000_000.0,
                               interrupted=draw(st.booleans())))  # fmt: skip
    return evs


@settings(max_examples=60, deadline=None)
@given(histories())
def test_every_history_renders_in_every_format(evs: list[Event]) -> None:
    report = Report.from_events(evs)
    text = report.to_text()
    assert text.split("\n")[0].endswith(str(report.verdict))
    data = json.loads(report.to_json())
    assert data["verdict"] == report.verdict
    assert data["failure_count"] == report.failed_iterations
    assert sum(p["count"] for p in data["analysis"]["top_errors"]) <= report.failed_iterations
    suite = ET.fromstring(report.to_junit_xml()).find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", "0")) == len(suite.findall("testcase"))
    assert "</html>" in report.to_html()
    assert report.passed == (report.verdict != "FAIL")


@settings(max_examples=40, deadline=None)
@given(histories())
def test_folding_a_serialised_history_gives_the_same_report(evs: list[Event]) -> None:
    lines = dumps_events(evs).splitlines()
    again = [event_from_dict(json.loads(line)) for line in lines]
    assert Report.from_events(again).to_json() == Report.from_events(evs).to_json()


def test_an_error_with_a_lone_surrogate_is_written_in_every_format(tmp_path) -> None:
    """An undecodable file name (``surrogateescape``) in an error must not break the files."""
    bad = b"no such file: /data/\xff".decode("utf-8", "surrogateescape")
    evs: list[Event] = [
        RunStarted(ts=1_700_000_000.0, scenario="s", seed=1),
        IterationFinished(
            ts=1_700_000_001.0,
            iteration=0,
            duration=0.1,
            ok=False,
            step="x",
            error=bad,
            error_type="OSError",
        ),
    ]
    report = Report.from_events(evs)
    for suffix in (".txt", ".json", ".xml", ".html"):
        path = report.write(tmp_path / f"r{suffix}")
        text = path.read_text(encoding="utf-8")
        assert "/data/" in text and "\ufffd" not in text
    assert "/data/\\udcff" in (tmp_path / "r.txt").read_text(encoding="utf-8")
