"""Drive the staging service twice: once through the environment, once over HTTP.

    python examples/failpoints_staging/main.py

1. ``CHAOSKIT_FAILPOINTS`` makes the first two saves fail with ENOSPC and declines the
   fifth payment; the service's retries absorb the save errors.
2. The service starts with ``CHAOSKIT_FAILPOINTS_HTTP=127.0.0.1:0``; this process (a
   second process, speaking plain HTTP like gofail's and pingcap's clients) breaks every
   save, waits until the failpoint was hit nine times, heals it, declines two payments,
   and finally stops the service through a failpoint.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE = HERE / "service.py"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSKIT_")}
    root = str(HERE.parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def run_env_demo() -> dict[str, object]:
    terms = (
        "orders/save-error=2*raise(OSError, 28);payments/charge-result=4*off->1*return(declined)"
    )
    print(f"== 1. environment: CHAOSKIT_FAILPOINTS={terms!r}")
    proc = subprocess.run(
        [sys.executable, str(SERVICE), "--orders", "10"],
        env=_env(CHAOSKIT_FAILPOINTS=terms),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    summary: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"   service summary: {summary}")
    return summary


class Control:
    """A minimal client for the failpoint endpoint (what curl would do)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def call(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def wait_count(self, name: str, at_least: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, text = self.call("GET", f"/{name}/count")
            if status == 200 and int(text) >= at_least:
                return int(text)
            time.sleep(0.02)
        raise TimeoutError(f"failpoint {name} not hit {at_least} times")


def run_http_demo() -> dict[str, object]:
    print("== 2. HTTP: CHAOSKIT_FAILPOINTS_HTTP=127.0.0.1:0 (driven from this process)")
    proc = subprocess.Popen(
        [sys.executable, str(SERVICE), "--serve"],
        env=_env(CHAOSKIT_FAILPOINTS_HTTP="127.0.0.1:0"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"service did not start: {line!r}")
        control = Control(line.split()[1])
        print(f"   endpoint {line.split()[1]}")
        steps = [
            ("PUT", "/orders/save-error", "raise(OSError)"),
            ("WAIT", "orders/save-error", "9"),
            ("GET", "/", None),
            ("DELETE", "/orders/save-error", None),
            ("PUT", "/payments/charge-result", "2*return(declined)"),
            ("WAIT", "payments/charge-result", "3"),
            ("PUT", "/service/stop", "return(true)"),
        ]
        for method, path, body in steps:
            if method == "WAIT":
                got = control.wait_count(path, int(body or "1"))
                print(f"   GET /{path}/count -> {got}")
                continue
            status, text = control.call(method, path, body)
            shown = f" {body!r}" if body else ""
            listing = f"  {text.strip()!r}" if text.strip() else ""
            print(f"   {method} {path}{shown} -> {status}{listing}")
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    summary: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    print(f"   service summary: {summary}")
    return summary


def main() -> int:
    env_summary = run_env_demo()
    http_summary = run_http_demo()
    env_outcomes = env_summary["outcomes"]
    http_outcomes = http_summary["outcomes"]
    assert isinstance(env_outcomes, dict) and isinstance(http_outcomes, dict)
    ok = (
        env_outcomes == {"ok": 9, "payment declined": 1}
        and http_outcomes.get("save failed", 0) >= 3
        and http_outcomes.get("payment declined") == 2
        and http_outcomes.get("ok", 0) >= 1
    )
    print("== both runs behaved as configured" if ok else "== unexpected outcomes")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
