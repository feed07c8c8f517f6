"""The pytest plugin, exercised in real pytest runs (pytester, subprocesses)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

APP = """
import chaoskit as ck
from chaoskit import failpoint


@failpoint("app.save")
def save(x):
    return "saved"


def load():
    return failpoint.inject("app.load")


class Counter:
    def __init__(self):
        self.n = 0


def flaky(c):
    c.n += 1
    if c.n % 5 == 0:
        raise TimeoutError(f"timeout after {c.n} ms")
"""


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(chaosapp=APP)
    return pytester


def test_chaos_fixture_fails_the_test_with_the_text_report_on_fail(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_it="""
        import chaosapp

        def test_flaky(chaos):
            s = chaos.scenario("flaky").target(chaosapp.Counter()).step("go", chaosapp.flaky)
            chaos.run(s.repeat(20))

        def test_flaky_relaxed(chaos):
            s = chaos.scenario("flaky").target(chaosapp.Counter()).step("go", chaosapp.flaky)
            report = chaos.run(s.repeat(20), thresholds="relaxed")
            assert report.verdict == "PASS"
            assert report.success_rate == 0.8
        """
    )
    result = app.runpytest_subprocess("--chaos-seed", "1234")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*chaos scenario 'flaky': FAIL (replay with --chaos-seed 1234)*",
            "Verdict: FAIL  (thresholds: default)",
            "*success rate 80.00% is under the minimum 95.00%",
            "*chaoskit*",
            "chaos verdicts: 1 PASS, 1 FAIL",
            "*FAIL*test_it.py::test_flaky scenario 'flaky'  seed 1234*--chaos-seed 1234*",
        ]
    )


def test_chaos_thresholds_option_and_unstable_fails(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_it="""
        import chaosapp

        def test_flaky(chaos):
            s = chaos.scenario("flaky").target(chaosapp.Counter()).step("go", chaosapp.flaky)
            chaos.run(s.repeat(20))
        """
    )
    app.runpytest_subprocess("--chaos-thresholds", "relaxed").assert_outcomes(passed=1)
    app.runpytest_subprocess("--chaos-thresholds", "strict").assert_outcomes(failed=1)


def test_report_dir_gets_json_and_junit_per_run(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_it="""
        import chaosapp

        def test_ok(chaos):
            chaos.run(chaos.scenario("calm").target(chaosapp.Counter()).step("go", lambda c: None)
                      .repeat(3))
        """
    )
    app.runpytest_subprocess("--chaos-report-dir", "reports").assert_outcomes(passed=1)
    files = sorted(p.name for p in (app.path / "reports").iterdir())
    assert files == ["test_it.py_test_ok-calm.json", "test_it.py_test_ok-calm.xml"]
    data = json.loads((app.path / "reports" / files[0]).read_text())
    assert data["verdict"] == "PASS" and data["iterations"] == 3
    assert ET.parse(app.path / "reports" / files[1]).getroot().tag == "testsuites"


def test_marker_enables_failpoints_for_that_test_only(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_it="""
        import pytest
        import chaosapp

        @pytest.mark.chaos(failpoints={"app.save": "return(failed)", "app.load": "return(7)"})
        def test_marked():
            assert chaosapp.save(1) == "failed"
            assert chaosapp.load() == 7

        def test_after_marked_test_failpoints_are_off():
            assert chaosapp.save(1) == "saved"
            assert chaosapp.load() is None

        @pytest.mark.chaos(failpoints={"app.save": "panic(boom)"}, seed=99)
        def test_marked_failure_prints_seed():
            chaosapp.save(1)
        """
    )
    result = app.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*seed 99: replay with --chaos-seed 99*"])


def test_bad_marker_arguments_are_config_errors(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.chaos(failpoint={"x": "off"})
        def test_typo():
            pass

        @pytest.mark.chaos(failpoints={"x": "50%%bogus"})
        def test_bad_terms():
            pass
        """
    )
    result = app.runpytest_subprocess()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*unexpected argument failpoint*", "*ConfigError*"])


def test_bad_marker_terms_and_seed_are_config_errors_naming_the_test(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        test_named="""
        import pytest

        @pytest.mark.chaos(failpoints={"x": "bogus((("})
        def test_bad_terms():
            pass

        @pytest.mark.chaos(seed="abc")
        def test_bad_seed():
            pass
        """
    )
    result = app.runpytest_subprocess()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ConfigError: @pytest.mark.chaos(failpoints=...): *'bogus(((' in "
            "test_named.py::test_bad_terms",
            "*ConfigError: @pytest.mark.chaos(seed=...) must be an integer, got 'abc' in "
            "test_named.py::test_bad_seed",
        ]
    )


def test_chaos_seed_replays_scenarios_not_built_with_chaos_scenario(
    app: pytest.Pytester,
) -> None:
    """A plain ``ck.scenario`` without a seed of its own runs with the test's seed, so the
    seed the failure message prints replays it."""
    app.makepyfile(
        test_plain="""
        import chaoskit as ck

        def test_plain(chaos):
            report = chaos.run(ck.scenario("plain").step("s", lambda t: None).repeat(2))
            assert report.seed == chaos.seed == 4242

        def test_own_seed_is_kept(chaos):
            built = ck.scenario("own").step("s", lambda t: None).repeat(2).seed(7).build()
            assert chaos.run(built).seed == 7
        """
    )
    result = app.runpytest_subprocess("--chaos-seed", "4242")
    result.assert_outcomes(passed=2)


def test_xdist_workers_do_not_see_each_others_failpoints(app: pytest.Pytester) -> None:
    """Tests that enable the same failpoint differently run in parallel, many times over."""
    cases = []
    for i in range(16):
        if i % 3 == 2:
            cases.append(
                f"""
def test_unmarked_{i}():
    for _ in range(100):
        assert chaosapp.load() is None
        time.sleep(0.0005)
"""
            )
        else:
            cases.append(
                f"""
@pytest.mark.chaos(failpoints={{"app.load": "return({i})"}})
def test_marked_{i}():
    for _ in range(100):
        assert chaosapp.load() == {i}
        time.sleep(0.0005)
"""
            )
    app.makepyfile(test_par="import time\nimport pytest\nimport chaosapp\n" + "".join(cases))
    result = app.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=16)
    result.stdout.fnmatch_lines(["*2 workers*"])


def test_marker_scope_isolates_concurrent_threads(app: pytest.Pytester) -> None:
    """Within one process, the marker's scope covers only the test's own context."""
    app.makepyfile(
        test_it="""
        import threading
        import pytest
        import chaosapp

        seen = []
        started = threading.Event()
        stop = threading.Event()

        def background():
            started.set()
            while not stop.is_set():
                seen.append(chaosapp.load())

        t = threading.Thread(target=background, daemon=True)

        def test_start_background():
            t.start()
            started.wait(5)

        @pytest.mark.chaos(failpoints={"app.load": "return(1)"})
        def test_marked_while_background_runs():
            for _ in range(1000):
                assert chaosapp.load() == 1

        def test_background_never_saw_the_failpoint():
            stop.set()
            t.join(5)
            assert seen and set(seen) == {None}
        """
    )
    app.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=3)


def test_marker_failpoints_reach_scenario_steps_run_by_the_chaos_fixture(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        test_it="""
        import pytest
        import chaosapp

        def step(_):
            if chaosapp.load() == "boom":
                raise RuntimeError("failpoint fired")

        @pytest.mark.chaos(failpoints={"app.load": "25%return(boom)"}, seed=11)
        def test_marked(chaos):
            report = chaos.run(chaos.scenario("fp").step("s", step).repeat(200).workers(2),
                               check=False)
            assert 20 < report.failed_iterations < 90, report.failed_iterations

        def test_unmarked(chaos):
            report = chaos.run(chaos.scenario("fp").step("s", step).repeat(50))
            assert report.failed_iterations == 0
        """
    )
    app.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=2)
