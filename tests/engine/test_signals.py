"""SIGTERM ends a run with a report that says it was interrupted, and a complete event log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

PROGRAM = """
import sys, time
import chaoskit as ck
from chaoskit import injectors

inj = injectors.cpu_stress(workers=1, load=0.2)
s = ck.scenario("long").step("s", lambda t: time.sleep(0.01)).inject("cpu", inj).run_for(120).build()
report = ck.Executor(events_path=sys.argv[1]).run(s)
print("PIDS", inj.pids)
print("INTERRUPTED", report.interrupted, report.interrupt_reason, report.iterations)
"""


def test_sigterm_produces_an_interrupted_report_and_stops_injectors(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, str(events)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if events.exists() and events.read_text().count("iteration.finished") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "INTERRUPTED True SIGTERM" in out
    last = json.loads(events.read_text().splitlines()[-1])
    assert last["kind"] == "run.finished" and last["interrupted"] and last["reason"] == "SIGTERM"
    pids = eval(out.split("PIDS", 1)[1].splitlines()[0])
    import psutil

    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
