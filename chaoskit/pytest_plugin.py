"""chaoskit's pytest plugin (entry point ``pytest11``: loaded whenever chaoskit is installed).

- the ``chaos`` fixture: build scenarios inside a test and run them; a FAIL verdict fails
  the test with the text report (thresholds selectable per run or with ``--chaos-thresholds``);
- ``@pytest.mark.chaos(failpoints={"name": "terms"}, seed=N)``: failpoints active for that
  test only, in a failpoint scope of its own, so tests running in parallel (threads, asyncio
  tasks or pytest-xdist workers) never see each other's failpoints;
- ``--chaos-seed N`` (replay), ``--chaos-report-dir DIR`` (JSON and JUnit XML per run),
  ``--chaos-unstable-fails``, and a terminal summary with every run's verdict and the seed
  of each failing one.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from chaoskit.errors import ConfigError
from chaoskit.thresholds import PRESETS, Thresholds, Verdict, preset

__all__ = ["ChaosFixture"]

_KEY = "chaoskit"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaoskit", "chaos engineering (chaoskit)")
    group.addoption(
        "--chaos-seed",
        type=int,
        default=None,
        help="Seed for every chaos run and @pytest.mark.chaos test (replays a failure).",
    )
    group.addoption(
        "--chaos-report-dir",
        default=None,
        help="Write a JSON and a JUnit XML report per chaos run into this directory.",
    )
    group.addoption(
        "--chaos-thresholds",
        default=None,
        choices=sorted(PRESETS),
        help="Default verdict thresholds for the chaos fixture (default: default).",
    )
    group.addoption(
        "--chaos-unstable-fails",
        action="store_true",
        default=False,
        help="Fail tests whose chaos verdict is UNSTABLE, not only FAIL.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chaos(failpoints=None, seed=None): activate failpoints (name -> terms) for this "
        "test only, and seed chaoskit's random generator.",
    )
    config.pluginmanager.register(_Verdicts(), "chaoskit-verdicts")


_SEED = pytest.StashKey[int]()


def _seed_for(request: pytest.FixtureRequest) -> int:
    """The test's seed, chosen once: the marker's, else --chaos-seed, else a fresh one."""
    stash: pytest.Stash = request.node.stash
    if _SEED not in stash:
        stash[_SEED] = _choose_seed(request)
    return stash[_SEED]


def _choose_seed(request: pytest.FixtureRequest) -> int:
    marker = request.node.get_closest_marker("chaos")
    if marker is not None and marker.kwargs.get("seed") is not None:
        seed = marker.kwargs["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(
                f"@pytest.mark.chaos(seed=...) must be an integer, got {seed!r}",
                source=request.node.nodeid,
            )
        return seed
    option = request.config.getoption("--chaos-seed")
    if option is not None:
        return int(option)
    from chaoskit.rng import new_seed

    return new_seed()


@pytest.fixture(autouse=True)
def _chaoskit_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Apply ``@pytest.mark.chaos``: a failpoint scope for the test, and the seed."""
    marker = request.node.get_closest_marker("chaos")
    if marker is None:
        yield
        return
    unknown = sorted(set(marker.kwargs) - {"failpoints", "seed"}) + (["(positional)"] * bool(marker.args))  # fmt: skip
    if unknown:
        raise ConfigError(
            f"@pytest.mark.chaos got unexpected argument {unknown[0]} (known: failpoints, seed)",
            source=request.node.nodeid,
        )
    failpoints = marker.kwargs.get("failpoints") or {}
    if not isinstance(failpoints, Mapping):
        raise ConfigError(
            f"@pytest.mark.chaos(failpoints=...) must map names to terms, got {failpoints!r}",
            source=request.node.nodeid,
        )
    from chaoskit.failpoints import enable, scope
    from chaoskit.rng import reseed_global

    seed = _seed_for(request)
    request.node.user_properties.append(("chaoskit_seed", seed))
    reseed_global(seed)
    with scope(f"pytest:{request.node.nodeid}"):
        for name, terms in failpoints.items():
            try:
                enable(name, terms)
            except ConfigError as exc:
                raise ConfigError(
                    f"@pytest.mark.chaos(failpoints=...): {exc}", source=request.node.nodeid
                ) from None
        yield


class ChaosFixture:
    """What the ``chaos`` fixture gives a test.

    ``chaos.scenario(name)`` is :func:`chaoskit.scenario` pre-seeded with ``chaos.seed``;
    ``chaos.run(s)`` runs it and fails the test (with the text report) on FAIL.
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self.seed = _seed_for(request)
        name = request.config.getoption("--chaos-thresholds")
        self.thresholds: Thresholds | None = preset(name) if name else None
        self.unstable_fails: bool = bool(request.config.getoption("--chaos-unstable-fails"))
        self.report_dir: str | None = request.config.getoption("--chaos-report-dir")
        self.reports: list[Any] = []

    def scenario(self, name: str) -> Any:
        import chaoskit as ck

        return ck.scenario(name).seed(self.seed)

    def run(
        self,
        scenario: Any,
        *,
        thresholds: Thresholds | str | None = None,
        check: bool = True,
        **executor_options: Any,
    ) -> Any:
        """Run ``scenario`` (built or a builder); return the report, failing the test on FAIL.

        ``check=False`` returns the report whatever the verdict. Other keyword arguments go
        to :class:`chaoskit.Executor` (default ``failure_policy=ck.CONTINUE_ON_FAILURE``).
        """
        import chaoskit as ck
        from chaoskit.scenario import ScenarioBuilder

        built = scenario.build() if isinstance(scenario, ScenarioBuilder) else scenario
        if built.seed is None:  # so that --chaos-seed replays it, as the failure message says
            built = dataclasses.replace(built, seed=self.seed)
        t = preset(thresholds) if thresholds is not None else self.thresholds
        executor_options.setdefault("failure_policy", ck.CONTINUE_ON_FAILURE)
        executor_options.setdefault("progress", False)
        report = ck.Executor(thresholds=t, **executor_options).run(built)
        if t is not None and report.thresholds is not t:
            report = report.with_thresholds(t)
        self.reports.append(report)
        self._record(report)
        if check:
            bad = report.verdict is Verdict.FAIL or (
                self.unstable_fails and report.verdict is Verdict.UNSTABLE
            )
            if bad:
                pytest.fail(
                    f"chaos scenario {report.scenario!r}: {report.verdict} "
                    f"(replay with --chaos-seed {report.seed})\n\n{report.to_text()}",
                    pytrace=False,
                )
        return report

    def _record(self, report: Any) -> None:
        node = self._request.node
        entry = {
            "nodeid": node.nodeid,
            "scenario": report.scenario,
            "verdict": str(report.verdict),
            "seed": report.seed,
            "iterations": report.iterations,
            "success_rate": report.success_rate,
        }
        node.user_properties.append((_KEY, json.dumps(entry)))
        if self.report_dir:
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{node.nodeid}-{report.scenario}").strip("_")
            out = Path(self.report_dir)
            report.write(out / f"{stem}.json")
            report.write(out / f"{stem}.xml")


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> ChaosFixture:
    """Build and run chaos scenarios inside a test; see :class:`ChaosFixture`."""
    return ChaosFixture(request)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.when == "call":
        seeds = [v for k, v in item.user_properties if k == "chaoskit_seed"]
        if seeds and not any(k == _KEY for k, _ in item.user_properties):
            report.sections.append(
                ("chaoskit", f"seed {seeds[0]}: replay with --chaos-seed {seeds[0]}")
            )
    return report


class _Verdicts:
    """Collects chaos verdicts (also from xdist workers: user_properties travel with the
    test reports) and prints them in the terminal summary."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == _KEY:
                self.results.append(json.loads(str(value)))
            elif key == "chaoskit_seed" and report.failed:
                self.results.append(
                    {"nodeid": report.nodeid, "scenario": None, "verdict": "FAIL", "seed": value}
                )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        counts = {v.value: 0 for v in Verdict}
        for r in self.results:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        tr = terminalreporter
        tr.section("chaoskit", sep="-")
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        tr.write_line(f"chaos verdicts: {summary}")
        for r in self.results:
            if r["verdict"] != "PASS":
                what = f" scenario {r['scenario']!r}" if r.get("scenario") else ""
                tr.write_line(
                    f"  {r['verdict']:<8} {r['nodeid']}{what}  seed {r['seed']} "
                    f"(replay: pytest {r['nodeid']} --chaos-seed {r['seed']})"
                )
