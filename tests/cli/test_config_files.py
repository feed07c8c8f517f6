"""Scenario files as data: building, and errors that name the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.config import import_object, load_defaults, load_scenarios, read_config_file
from chaoskit.errors import ConfigError


def test_toml_source_map_knows_tables_arrays_and_inline_elements(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        "[[scenarios]]\n"            # 1
        'name = "a"\n'               # 2
        "steps = [\n"                # 3
        '  "os:getcwd",\n'           # 4
        '  {fn = "os:getpid"},\n'    # 5
        "]\n"                        # 6
        "[scenarios.thresholds]\n"   # 7
        "min_success_rate = 0.5\n"   # 8
        "[[scenarios]]\n"            # 9
        'name = "b"\n'               # 10
        "[[scenarios.inject]]\n"     # 11
        'type = "random_delay"\n'    # 12
    )  # fmt: skip
    _, sm = read_config_file(p)
    assert sm.where("scenarios[0].name").endswith(":2")
    assert sm.where("scenarios[0].steps[1]").endswith(":5")
    assert sm.where("scenarios[0].steps[1].fn").endswith(":5")
    assert sm.where("scenarios[0].thresholds.min_success_rate").endswith(":8")
    assert sm.where("scenarios[1].name").endswith(":10")
    assert sm.where("scenarios[1].inject[0].type").endswith(":12")


def test_failpoints_injector_and_kwargs_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        """
[scenario]
name = "fp"
steps = ["os:getcwd"]
run_for = "2s"
workers = 2
probe = "json"

[[scenario.inject]]
name = "faults"
type = "failpoints"
args = [{"db.save" = "5%return(None)"}]

[[scenario.inject]]
type = "error_probability"
probability = 0.25

[[scenario.check]]
type = "slow_iteration"
kwargs = {threshold = "50ms"}
"""
    )
    (s,) = load_scenarios(p)
    assert s.name == "fp" and s.run_for == 2.0 and s.workers == 2 and s.repeat is None
    assert [i.name for i in s.injectors] == ["faults", "error_probability"]
    assert [c.name for c in s.checks] == ["slow_iteration"]
    assert s.probes == ("json",)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[scenario]\nname = "x"\n', "a scenario needs 'steps'"),
        ('[scenario]\nsteps = ["os:getcwd"]\n', "a scenario needs a 'name'"),
        ('[scenario]\nname = "x"\nsteps = []\n', "at least one step"),
        ('[scenario]\nname = "x"\nsteps = ["os:nope"]\n', "has no attribute 'nope'"),
        ('[scenario]\nname = "x"\nsteps = [{fun = "os:getcwd"}]\n', "steps[0].fun"),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\n[[scenario.check]]\n'
         'type = "thread_limit"\nargs = ["many"]\n', "scenario.check[0]"),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\n[[scenario.check]]\n'
         'type = "thread_limit"\nlimit = 5\nbogus = 1\n', "bad arguments"),
        ('[other]\n', "unknown top-level key"),
        ('title = "x"\n', "title: unknown top-level key"),
    ],
)  # fmt: skip
def test_bad_files_raise_config_error(tmp_path: Path, body: str, needle: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_scenarios(p)
    assert needle in str(info.value)
    assert str(p) in str(info.value)


def test_unsupported_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unsupported scenario file type '\.ini'"):
        read_config_file(tmp_path / "x.ini")
    with pytest.raises(ConfigError, match="cannot read"):
        read_config_file(tmp_path / "missing.toml")


def test_import_object_forms() -> None:
    import os.path

    assert import_object("os.path:join") is os.path.join
    assert import_object("os.path.join") is os.path.join
    with pytest.raises(ConfigError, match="cannot import module 'no_such_mod_x'"):
        import_object("no_such_mod_x:f")


def test_pyproject_defaults_are_checked_and_other_keys_kept(tmp_path: Path) -> None:
    p = tmp_path / "pyproject.toml"
    p.write_text(
        '[project]\nname = "x"\n\n[tool.chaoskit]\nthresholds = {preset = "strict"}\n'
        'seed = 5\nreports = ["junit"]\nfailpoints = {"a" = "off"}\n'
    )
    d = load_defaults(p)
    assert d.thresholds is not None and d.thresholds.require_all_validators
    assert d.seed == 5 and d.reports == ("junit",)
    assert d.extra == {"failpoints": {"a": "off"}}
    p.write_text('[tool.chaoskit]\nseed = "five"\n')
    with pytest.raises(ConfigError, match=r"tool\.chaoskit\.seed: seed must be an integer"):
        load_defaults(p)
    p.write_text('[tool.chaoskit]\nreports = ["pdf"]\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml:2"):
        load_defaults(p)
    p.write_text('[project]\nname = "x"\n')
    assert load_defaults(p).thresholds is None


def test_json_scenario_files_with_lines_in_errors(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text('{"scenario": {\n  "name": "j",\n  "steps": ["os:getcwd"],\n  "repeat": 3\n}}\n')
    (s,) = load_scenarios(p)
    assert (s.name, s.repeat) == ("j", 3)
    p.write_text('{"scenario": {\n  "name": "j",\n  "steps": ["os:getcwd"],\n  "seed": "x"\n}}\n')
    with pytest.raises(ConfigError, match=r"scenario\.seed: seed must be an integer.*s\.json:4"):
        load_scenarios(p)
    p.write_text('{"scenario": {\n  "name": "j"\n  "steps": []}}')
    with pytest.raises(ConfigError, match=r"invalid JSON.*s\.json:3"):
        load_scenarios(p)
