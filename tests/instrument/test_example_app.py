"""examples/unmodified_app run under the wrapper: faults reach it, its handling copes."""

from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "examples" / "unmodified_app"

FAULTS = [
    "shop.store:Inventory.reserve=30%raise(ConnectionError)",
    "shop.store:Settings.load=1*raise(OSError)",
    "shop.payments:Gateway.charge=25%sleep(200ms)",
    "shop.pricing:total=3*return(0)",
]


def _counts(stderr: str) -> dict[str, tuple[str, int, int]]:
    out = {}
    for line in stderr.splitlines():
        m = re.match(
            r"\s+(\S+)\s+(patched|never imported|unresolved)\s+hits (\d+)\s+firings (\d+)", line
        )
        if m:
            out[m.group(1)] = (m.group(2), int(m.group(3)), int(m.group(4)))
    return out


def test_unmodified_app_plain_run_has_no_faults(run):
    r = run("-m", "shop", "12", wrapper=False, cwd=APP)
    assert r.returncode == 0, r.stderr
    assert "orders ok=12 failed=0 retries=0 timeouts=0 recomputed=0" in r.stdout


def test_unmodified_app_under_the_wrapper_handles_injected_faults(run):
    args = [a for fault in FAULTS for a in ("-f", fault)]
    r = run("--seed", "42", *args, "-m", "shop", "20", cwd=APP)
    assert r.returncode == 0, r.stderr
    assert "settings unavailable, using defaults" in r.stdout  # classmethod fault handled
    stats = dict(re.findall(r"(\w+)=(\d+)", r.stdout.splitlines()[1]))
    assert int(stats["retries"]) > 0  # method fault -> the app retried
    assert int(stats["timeouts"]) > 0  # async method stalled -> wait_for timed out
    assert int(stats["recomputed"]) > 0  # captured reference returned 0 -> sanity check
    assert int(stats["ok"]) > 0
    counts = _counts(r.stderr)
    assert set(counts) == {f.split("=")[0] for f in FAULTS}
    for name, (status, hits, firings) in counts.items():
        assert status == "patched" and hits > 0 and firings > 0, name
    assert "2 processes" in r.stderr  # the report subprocess was instrumented
    assert counts["shop.store:Settings.load"][2] == 1
    assert counts["shop.pricing:total"][2] == 3 + 1  # 3 in the app, 1 in the subprocess
