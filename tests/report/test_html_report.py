"""The HTML report: self-contained, and its charts render in headless Chromium."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_events import make_events

from chaoskit.report.html import HtmlReport
from chaoskit.report.model import Report

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian's chromium is required for the HTML report tests (.ci/run installs it)"
    return exe


def open_in_browser(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console messages the page logged."""
    proc = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def test_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    """The browser harness itself can fail: a page with a script error is reported."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>null.x;</script></body></html>", encoding="utf-8")
    _, console = open_in_browser(page, tmp_path / "profile")
    assert any("Uncaught TypeError" in line for line in console)


@pytest.mark.parametrize("case", ["fail", "pass", "empty"])
def test_html_charts_render_without_console_errors(tmp_path: Path, case: str) -> None:
    if case == "empty":
        report = Report()
    else:
        kwargs = {"critical_violation": True} if case == "fail" else {"failing": {}}
        report = Report.from_events(make_events(**kwargs))
    page = tmp_path / "report.html"
    report.write(page)
    dom, console = open_in_browser(page, tmp_path / "profile")
    assert console == []
    assert 'data-charts-rendered="4"' in dom
    marks = dict(
        re.findall(r'id="(chart-[a-z]+)"[^>]*data-rendered="true" data-marks="(\d+)"', dom)
    )
    assert set(marks) == {"chart-timeline", "chart-durations", "chart-validators", "chart-faults"}
    if case == "empty":
        assert set(marks.values()) == {"0"}
        return
    assert int(marks["chart-timeline"]) == 20
    assert int(marks["chart-durations"]) == 30
    assert int(marks["chart-validators"]) == 3
    assert '<div id="chaoskit-errors"></div>' in dom
    if case == "fail":
        assert int(marks["chart-faults"]) == 2
        assert dom.count('class="mark fail"') == 3  # the three failed iterations, marked x
        assert 'class="badge FAIL"' in dom


def test_html_report_is_self_contained() -> None:
    html = Report.from_events(make_events()).to_html()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "<script src" not in html


def test_html_escapes_user_text() -> None:
    evs = make_events(failing={2: "<script>alert(1)</script> & more"}, scenario="a<b>")
    html = Report.from_events(evs).to_html()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "a&lt;b&gt;" in html


def test_large_runs_are_sampled_but_keep_every_failure() -> None:
    evs = make_events(iterations=300, failing={i: "x" for i in range(0, 300, 50)})
    report = Report.from_events(evs)
    points = HtmlReport(report, max_points=100).data()["iterations"]
    assert len(points) == 100
    assert sum(1 for p in points if p[2] == 0) == 6


def test_duration_axis_labels_stay_distinct_for_sub_millisecond_iterations(
    tmp_path: Path,
) -> None:
    """Fast iterations (hundredths of a millisecond) still get readable, distinct ticks."""
    evs = [
        dataclasses.replace(e, duration=e.duration / 5000) if hasattr(e, "duration") else e
        for e in make_events()
    ]
    page = tmp_path / "report.html"
    Report.from_events(evs).write(page)
    dom, console = open_in_browser(page, tmp_path / "profile")
    assert console == []
    timeline = dom.split('id="chart-timeline"', 1)[1].split('id="chart-', 1)[0]
    ticks = re.findall(r'<text[^>]*text-anchor="end"[^>]*>([^<]*)</text>', timeline)
    assert len(ticks) == 5, ticks
    assert len(set(ticks)) == 5, ticks


def test_a_long_seed_fits_in_its_stat_card(tmp_path: Path) -> None:
    """Generated seeds have 19 digits: the card wraps them instead of clipping the replay seed."""
    evs = make_events()
    evs[0] = dataclasses.replace(evs[0], seed=7143531441739054065)
    html = Report.from_events(evs).to_html()
    assert ">7143531441739054065<" in html
    probe = (
        "<script>document.body.setAttribute('data-clipped', String(Array.from("
        "document.querySelectorAll('.stat .v')).filter(function (e) {"
        " return e.scrollWidth > e.clientWidth; }).length));</script></body>"
    )
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", probe), encoding="utf-8")
    dom, console = open_in_browser(page, tmp_path / "profile")
    assert console == []
    assert 'data-clipped="0"' in dom
