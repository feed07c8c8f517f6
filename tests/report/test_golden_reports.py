"""Text, JSON and JUnit reports compared with golden files built from a fixed event log.

Regenerate after an intended change with ``CHAOSKIT_UPDATE_GOLDEN=1 pytest tests/report``.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_events import make_events

from chaoskit.events import dumps_events, read_events
from chaoskit.report.model import Report

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "fail": {},
    "unstable": {"failing": {}},
    "pass": {"failing": {}, "warning_violation": False},
    "critical": {"failing": {4: "boom"}, "critical_violation": True},
}


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CHAOSKIT_UPDATE_GOLDEN") or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("case", sorted(CASES))
def test_text_report_matches_golden_file(case: str) -> None:
    report = Report.from_events(make_events(**CASES[case]))
    _check(f"{case}.txt", report.to_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_report_matches_golden_file(case: str) -> None:
    report = Report.from_events(make_events(**CASES[case]))
    _check(f"{case}.json", report.to_json() + "\n")


@pytest.mark.parametrize("case", sorted(CASES))
def test_junit_report_matches_golden_file(case: str) -> None:
    report = Report.from_events(make_events(**CASES[case]))
    _check(f"{case}.xml", report.to_junit_xml())


def test_report_rebuilt_from_recorded_log_renders_identically(tmp_path: Path) -> None:
    """A report folded from events.jsonl is byte-for-byte the live report."""
    evs = make_events()
    log = tmp_path / "events.jsonl"
    log.write_text(dumps_events(evs), encoding="utf-8")
    live = Report.from_events(evs)
    rebuilt = Report.from_events(read_events(log))
    assert rebuilt.to_json() == live.to_json()
    assert rebuilt.to_text() == live.to_text()


def test_text_report_starts_with_the_verdict() -> None:
    for case, verdict in (("fail", "FAIL"), ("unstable", "UNSTABLE"), ("pass", "PASS")):
        first = Report.from_events(make_events(**CASES[case])).to_text().splitlines()[0]
        assert first.endswith(verdict), first


def test_json_report_carries_go_report_fields() -> None:
    data = json.loads(Report.from_events(make_events()).to_json())
    go_fields = {
        "verdict", "summary", "scenario_name", "execution_time", "duration",
        "total_iterations", "success_count", "failure_count", "success_rate",
        "avg_duration", "critical_failures", "warnings", "info_messages", "analysis",
        "thresholds",
    }  # fmt: skip
    assert go_fields <= set(data)
    assert {"by_validator", "by_type", "top_errors", "failure_rate_over_time"} <= set(
        data["analysis"]
    )
    assert data["schema"] == "chaoskit.report"
    assert data["schema_version"] == "1.1"
    assert data["total_iterations"] == 20
    assert data["failure_count"] == 3
    assert data["warnings"][0]["validator_name"] == "slow"
    assert data["warnings"][0]["occurrences"] == 2
    top = data["analysis"]["top_errors"][0]
    assert top == {
        "error_pattern": "timeout after N ms",
        "error_type": "TimeoutError",
        "count": 2,
        "first_iteration": 3,
        "last_iteration": 7,
        "steps": ["pay"],
        "examples": ["timeout after 25 ms", "timeout after 130 ms"],
    }
    windows = data["analysis"]["failure_rate_over_time"]
    assert sum(w["iterations"] for w in windows) == 20
    assert sum(w["failures"] for w in windows) == 3


def test_junit_xml_has_one_case_per_validator_and_failures_with_messages() -> None:
    report = Report.from_events(make_events(**CASES["critical"]))
    root = ET.fromstring(report.to_junit_xml())
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert {"validator.threads", "validator.recursion", "validator.slow"} <= set(cases)
    threads_fail = cases["validator.threads"].find("failure")
    assert threads_fail is not None
    assert threads_fail.get("type") == "critical"
    assert "251 threads > limit 200" in (threads_fail.text or "")
    assert cases["validator.recursion"].find("failure") is None
    assert int(suite.get("tests", "0")) == len(cases)
    failures = sum(1 for c in cases.values() if c.find("failure") is not None)
    assert int(suite.get("failures", "-1")) == failures == int(root.get("failures", "-1"))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "FAIL"
    assert props["seed"] == "42"


def test_interrupted_run_is_a_junit_error_and_a_fail() -> None:
    from chaoskit.events import RunFinished

    evs = make_events(failing={}, warning_violation=False)
    evs[-1] = RunFinished(ts=evs[-1].ts, scenario="checkout-saga", duration=1.0,
                          interrupted=True, reason="SIGTERM")  # fmt: skip
    report = Report.from_events(evs)
    assert report.verdict == "FAIL"
    assert "SIGTERM" in report.verdict_reasons[0]
    suite = ET.fromstring(report.to_junit_xml()).find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
