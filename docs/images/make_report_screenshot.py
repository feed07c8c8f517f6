"""Regenerate docs/images/report.png: a real run's HTML report, shot in headless Chromium.

.venv/bin/python docs/images/make_report_screenshot.py
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from pathlib import Path

import chaoskit as ck
from chaoskit import injectors, validators

HERE = Path(__file__).parent


class Checkout:
    name = "checkout-service"

    def __init__(self) -> None:
        self.rng = random.Random(5)


def reserve(shop: Checkout) -> None:
    ck.maybe_delay()
    if shop.rng.random() < 0.04:
        raise TimeoutError(f"inventory timeout after {shop.rng.randint(20, 90)} ms")


def pay(shop: Checkout) -> None:
    ck.maybe_error()
    ck.record_recursion_depth(shop.rng.randint(1, 6))


def main() -> None:
    scenario = (
        ck.scenario("checkout-saga")
        .target(Checkout())
        .step("reserve", reserve)
        .step("pay", pay)
        .inject("latency", injectors.random_delay(0.001, 0.012))
        .inject("errors", injectors.error_probability(0.03))
        .check("threads", validators.thread_limit(100))
        .check("recursion", validators.recursion_depth_limit(10))
        .check("slow", validators.slow_iteration(0.0118), severity="warning")
        .repeat(300)
        .seed(2026)
        .build()
    )
    report = ck.Executor(ck.CONTINUE_ON_FAILURE, progress=False).run(scenario)
    with tempfile.TemporaryDirectory() as tmp:
        page = report.write(Path(tmp) / "report.html")
        subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={tmp}/profile", "--hide-scrollbars",
                "--window-size=1280,1500", f"--screenshot={HERE / 'report.png'}", page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    print(report.to_text())


if __name__ == "__main__":
    main()
