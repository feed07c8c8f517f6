"""The published ``toxiproxy-node-client`` 4.1.0 (npm) drives the embedded server unchanged.

Needs ``npm install --prefix tests/netchaos/node`` (the Makefile and .ci/run do it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from netchaos_helpers import Upstream

from chaoskit.netchaos import VERSION, ServerHandle

NODE_DIR = Path(__file__).parent / "node"


def test_node_client_creates_proxies_and_toxics(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    node = shutil.which("node")
    assert node, "node is required for this test"
    assert (NODE_DIR / "node_modules" / "toxiproxy-node-client").is_dir(), (
        "run: npm install --prefix tests/netchaos/node"
    )
    proc = subprocess.run(
        [node, str(NODE_DIR / "drive.js"), server.url, echo_upstream.address],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert json.loads(out["version"]) == {"version": VERSION}
    assert out["plain"]["echoed"] == "hello" and out["plain"]["ms"] < 400
    assert out["toxic"] == {"attributes": {"latency": 500, "jitter": 0}, "name": "lag",
                            "stream": "downstream", "toxicity": 1, "type": "latency"}  # fmt: skip
    assert out["delayed"]["ms"] >= 498
    assert out["updated"]["attributes"]["latency"] == 900
    assert out["fetched"] == out["updated"]
    assert out["moreDelayed"]["ms"] >= 898
    assert out["afterRemove"]["ms"] < 400
    assert out["disabledEnabled"] is False
    assert out["refused"] == "ECONNREFUSED"
    assert out["afterReset"]["enabled"] is True
    assert out["afterResetRoundtrip"]["echoed"] == "back"
    assert out["afterResetRoundtrip"]["ms"] < 500
    assert out["populated"] == ["pop"]
    assert out["all"] == ["node", "pop"]
    assert "404" in out["missing"]
    assert out["final"] == []
