"""Option parsing, configuration merging and the child bootstrap, in process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chaoskit.errors import ConfigError
from chaoskit.instrument.config import find_pyproject, load_settings
from chaoskit.instrument.options import parse_args


def test_options_stop_at_the_script_and_pass_the_rest_through():
    o = parse_args(
        ["-f", "a=return(1)", "--failpoint=b=off", "-fc=panic", "prog.py", "-f", "--strict", "x"]
    )
    assert o.failpoints == (("a", "return(1)"), ("b", "off"), ("c", "panic"))
    assert o.script == "prog.py" and o.args == ("-f", "--strict", "x") and o.strict is None


def test_dash_m_ends_options_in_both_spellings():
    assert parse_args(["--strict", "-m", "pkg.mod", "--help"]).module == "pkg.mod"
    o = parse_args(["-mpkg", "a"])
    assert (o.module, o.args) == ("pkg", ("a",))
    assert parse_args(["--", "-weird.py", "a"]).script == "-weird.py"


def test_value_options_and_flags():
    o = parse_args(
        [
            "--probe",
            "a",
            "--probe=b",
            "--seed",
            "-3",
            "--report",
            "r.json",
            "--config",
            "c.toml",
            "--no-propagate",
            "--no-summary",
            "--strict",
            "--redirect",
            "db:5432",
            "s.py",
        ]
    )
    assert o.probes == ("a", "b") and o.seed == -3 and o.report == "r.json"
    assert o.config == "c.toml" and o.propagate is False and o.summary is False and o.strict
    assert o.redirects == ("db:5432",)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--nope", "s.py"], "--nope"),
        (["-f"], "-f needs a value"),
        (["-f", "noequals", "s.py"], "noequals"),
        (["--seed", "x", "s.py"], "x"),
        (["--strict=1", "s.py"], "takes no value"),
        (["-m"], "-m needs a module"),
        (["--strict"], "no program"),
    ],
)
def test_bad_options_raise_config_error_naming_them(argv, needle):
    with pytest.raises(ConfigError) as info:
        parse_args(argv)
    assert needle in str(info.value)


def test_nearest_pyproject_is_found_upwards(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.chaoskit]\nseed = 1\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_pyproject(deep) == str(tmp_path / "pyproject.toml")


def test_settings_precedence_pyproject_config_env_flags(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.chaoskit]\nfailpoints = { "a" = "return(1)", "b" = "return(1)", "c" = "return(1)" }\n'
        'seed = 1\nstrict = true\nprobe = "m1"\n'
    )
    cfg = tmp_path / "fp.txt"
    cfg.write_text("# comment\nb=return(2)\nc=return(2)\n")
    opts = parse_args(["--config", str(cfg), "-f", "c=return(4)", "--probe", "m2", "s.py"])
    s = load_settings(opts, cwd=tmp_path, environ={"CHAOSKIT_FAILPOINTS": "c=return(3);d=off"})
    assert s.failpoints == {"a": "return(1)", "b": "return(2)", "c": "return(4)", "d": "off"}
    assert s.seed == 1 and s.strict and s.probes == ("m1", "m2") and s.propagate


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("seed = 'x'", "'seed' must be an integer"),
        ("strict = 1", "'strict' must be true or false"),
        ("surprise = 1", "unknown setting 'surprise'"),
        ("failpoints = 3", "'failpoints' must be"),
        ('failpoints = { "a" = "nonsense((" }', "failpoints.a"),
        ("this is not toml", "invalid TOML"),
    ],
)
def test_bad_pyproject_settings_name_file_and_key(tmp_path, toml, needle):
    (tmp_path / "pyproject.toml").write_text(f"[tool.chaoskit]\n{toml}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(parse_args(["s.py"]), cwd=tmp_path, environ={})
    assert needle in str(info.value)
    assert "pyproject.toml" in str(info.value)


def test_config_toml_file_with_a_tool_chaoskit_table_is_read_not_ignored(tmp_path):
    """``--config chaos.toml`` holding a pyproject-style ``[tool.chaoskit]`` table applies
    it (it used to be taken for another tool's table and silently ignored), and its
    unknown keys are errors as in pyproject.toml."""
    cfg = tmp_path / "chaos.toml"
    cfg.write_text('[tool.chaoskit]\nfailpoints = { "a" = "return(1)" }\nseed = 3\n')
    s = load_settings(parse_args(["--config", str(cfg), "s.py"]), cwd=tmp_path, environ={})
    assert s.failpoints == {"a": "return(1)"} and s.seed == 3
    cfg.write_text("[tool.chaoskit]\nfailpoint = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'failpoint'") as info:
        load_settings(parse_args(["--config", str(cfg), "s.py"]), cwd=tmp_path, environ={})
    assert "chaos.toml" in str(info.value)
    cfg.write_text("seed = 4\n[tool.other]\nx = 1\n")  # top-level keys still work
    s = load_settings(parse_args(["--config", str(cfg), "s.py"]), cwd=tmp_path, environ={})
    assert s.seed == 4


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(
            parse_args(["--config", str(tmp_path / "x.toml"), "s.py"]), cwd=tmp_path, environ={}
        )


def test_child_activation_is_idempotent_per_process(monkeypatch, tmp_path):
    from chaoskit.instrument import child

    monkeypatch.setenv("CHAOSKIT_INSTRUMENT", json.dumps({"stats": None}))
    monkeypatch.setenv("CHAOSKIT_INSTRUMENT_PID", "1")
    monkeypatch.delenv("CHAOSKIT_FAILPOINTS", raising=False)
    assert child.activate() is True
    assert os.environ["CHAOSKIT_INSTRUMENT_PID"] == str(os.getpid())
    assert child.activate() is False


def test_bootstrap_directory_holds_only_sitecustomize():
    from chaoskit.instrument.session import BOOTSTRAP_DIR

    names = {p.name for p in Path(BOOTSTRAP_DIR).iterdir() if p.suffix == ".py"}
    assert names == {"sitecustomize.py"}


def test_session_applies_each_entry_once_and_stop_undoes_everything(monkeypatch, tmp_path):
    import importlib
    import sys

    from chaoskit.failpoints import registry
    from chaoskit.hooks.patcher import active_patches
    from chaoskit.instrument.session import BOOTSTRAP_DIR, Session

    (tmp_path / "sess_lib_q.py").write_text("def f():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("CHAOSKIT_FAILPOINTS", "sess-fp=return(1)")
    settings = load_settings(
        parse_args(["-f", "sess_lib_q:f=return(2)", "s.py"]), cwd=tmp_path, environ=dict(os.environ)
    )
    before = dict(os.environ)
    with Session(settings, "s.py"):
        assert [h.target for h in active_patches()] == ["sess_lib_q:f"]
        assert importlib.import_module("sess_lib_q").f() == 2
        assert registry.is_active("sess-fp")
        assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == BOOTSTRAP_DIR
        assert "sess_lib_q:f=return(2)" in os.environ["CHAOSKIT_FAILPOINTS"]
    assert active_patches() == [] and not registry.is_active("sess-fp")
    assert sys.modules["sess_lib_q"].f() == 1
    assert dict(os.environ) == before
    del sys.modules["sess_lib_q"]


def test_options_and_settings_are_immutable_values(tmp_path):
    """Parsed options and merged settings compare by value and cannot be changed later."""
    args = ["-f", "a=return(1)", "--seed", "3", "prog.py", "x"]
    assert parse_args(args) == parse_args(args)
    assert parse_args(args) != parse_args([*args[:-1], "y"])
    settings = load_settings(parse_args(args), cwd=tmp_path, environ={})
    assert settings == load_settings(parse_args(args), cwd=tmp_path, environ={})
    with pytest.raises(AttributeError, match="frozen"):
        settings.seed = 4  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        parse_args(args).module = "m"  # type: ignore[misc]
