"""Edge cases of `chaoskit run`/`report` found by trying the documented surface as a user."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.cli import main


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\nrepeat = 0\n', "scenario.repeat: "),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\nrun_for = "soon"\n',
         "scenario.run_for: "),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\nworkers = 0\n', "scenario.workers: "),
    ],
)  # fmt: skip
def test_values_rejected_when_building_name_their_key_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(content)
    code, _, err = invoke("run", "s.toml")
    assert code == 2
    assert needle in err and "s.toml:4" in err


def test_a_bad_check_severity_names_the_severity_key_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(
        '[scenario]\nname = "x"\nsteps = ["os:getcwd"]\n\n[[scenario.check]]\n'
        'type = "thread_limit"\nargs = [200]\nseverity = "fatal"\n'
    )
    code, _, err = invoke("run", "s.toml")
    assert code == 2
    assert "scenario.check[0].severity: " in err and "s.toml:8" in err


def test_scenario_names_with_path_separators_stay_inside_the_report_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text(
        "import chaoskit as ck\n"
        "a = ck.scenario('checkout/eu').step('s', lambda t: None).repeat(2).build()\n"
        "b = ck.scenario('../up').step('s', lambda t: None).repeat(2).build()\n"
    )
    code, _, _ = invoke("run", "s.py", "-q", "--report-dir", "out", "-o", "one/r.json")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{stem}{suffix}"
        for stem in ("checkout_eu", "_up")
        for suffix in (".txt", ".json", ".xml", ".html")
    )
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "r-_up.json",
        "r-checkout_eu.json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "out", "s.py"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "no events"),
        (b"not json at all\n", "no events"),
        (b"\xff\xfe\x00garbage\n", "cannot read the event log"),
        (b'{"a": 1}\n{"b": 2}\n', "unknown event kind"),
    ],
)
def test_report_of_a_file_that_is_not_an_event_log_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ev.jsonl").write_bytes(content)
    code, out, err = invoke("report", "ev.jsonl")
    assert code == 2 and out == ""
    assert err.startswith("chaoskit: error:") and needle in err and "ev.jsonl" in err


def test_pyproject_seed_is_a_default_that_a_scenarios_own_seed_wins_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.chaoskit]\nseed = 1234\n")
    (tmp_path / "s.py").write_text(
        "import chaoskit as ck\n"
        "own = ck.scenario('own').step('s', lambda t: None).repeat(2).seed(42).build()\n"
        "free = ck.scenario('free').step('s', lambda t: None).repeat(2).build()\n"
    )
    code, out, _ = invoke("run", "s.py", "-q")
    assert code == 0
    assert "PASS  own  seed=42 " in out and "PASS  free  seed=1234 " in out
    code, out, _ = invoke("run", "s.py", "-q", "--seed", "5")
    assert "PASS  own  seed=5 " in out and "PASS  free  seed=5 " in out


def test_a_missing_pyproject_given_explicitly_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text(
        "import chaoskit as ck\nok = ck.scenario('ok').step('s', lambda t: None).repeat(1).build()\n"
    )
    result = CliRunner().invoke(main, ["--pyproject", "nope.toml", "run", "s.py", "-q"])
    assert result.exit_code == 2
    assert "nope.toml" in result.stderr


def test_a_bad_run_for_option_names_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text(
        "import chaoskit as ck\nok = ck.scenario('ok').step('s', lambda t: None).repeat(1).build()\n"
    )
    code, _, err = invoke("run", "s.py", "--run-for", "soon")
    assert code == 2
    assert err.startswith("chaoskit: error: --run-for: ") and "'soon'" in err


def test_an_unwritable_report_path_is_a_config_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text(
        "import chaoskit as ck\nok = ck.scenario('ok').step('s', lambda t: None).repeat(1).build()\n"
    )
    (tmp_path / "taken").write_text("a file, not a directory\n")
    code, out, err = invoke("run", "s.py", "-q", "--events", "ev.jsonl", "--report-dir", "taken")
    assert code == 2 and out.startswith("PASS  ok")
    assert err.startswith("chaoskit: error: cannot write the report: ") and "taken" in err
    code, _, err = invoke("report", "ev.jsonl", "-o", "taken/r.json")
    assert code == 2
    assert err.startswith("chaoskit: error: cannot write the report: ") and "taken/r.json" in err


def test_a_scenario_whose_setup_raises_is_a_fail_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other scenarios still run; the error names the scenario and where it was raised."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text(
        "import chaoskit as ck\n"
        "class Broken:\n"
        "    def setup(self):\n"
        "        raise RuntimeError('setup broke')\n"
        "broken = ck.scenario('broken').target(Broken()).step('s', lambda t: None).build()\n"
        "ok = ck.scenario('ok').step('s', lambda t: None).repeat(1).build()\n"
    )
    code, out, err = invoke("run", "s.py", "-q")
    assert code == 1
    assert "FAIL  broken  (could not run)" in out and "PASS  ok" in out
    assert "scenario 'broken' could not run: RuntimeError: setup broke" in err
    assert f"{tmp_path / 's.py'}:4" in err


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ('steps = ["os:getcwd", "os:getcwd"]\n', "scenario.steps[1]: "),
        ('steps = ["os:getcwd"]\n[[scenario.check]]\ntype = "thread_limit"\nargs = [10]\n'
         '[[scenario.check]]\ntype = "thread_limit"\nargs = [20]\n', "scenario.check[1]: "),
        ('steps = ["os:getcwd"]\n[[scenario.inject]]\ntype = "random_delay"\nargs = [0, 0]\n'
         '[[scenario.inject]]\ntype = "random_delay"\nargs = [0, 0]\n', "scenario.inject[1]: "),
    ],
)  # fmt: skip
def test_a_duplicate_name_points_at_the_second_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: str, needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    content = '[scenario]\nname = "x"\nrepeat = 1\n' + entries
    (tmp_path / "s.toml").write_text(content)
    code, _, err = invoke("run", "s.toml")
    assert code == 2 and needle in err and "duplicate" in err
    line = 4 if "steps[1]" in needle else content.count("\n") - 2
    assert f"s.toml:{line}" in err
