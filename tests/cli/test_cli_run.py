"""`chaoskit run` and `chaoskit report`: scenarios from Python and data files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.cli import main

CHAOSKIT = str(Path(sys.executable).parent / "chaoskit")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def py_scenarios(tmp_path: Path, module: str, repeat: int = 30) -> Path:
    path = tmp_path / "scenarios.py"
    path.write_text(
        f"""
import chaoskit as ck
from chaoskit import injectors, validators
from {module} import Shop, checkout, ok

flaky = (
    ck.scenario("flaky").target(Shop()).step("checkout", checkout)
    .inject("delay", injectors.random_delay(0.0005, 0.001))
    .check("threads", validators.thread_limit(500))
    .repeat({repeat}).seed(7).build()
)
healthy = ck.scenario("healthy").target(Shop()).step("ok", ok).repeat(5).seed(1)

def made_later():
    return ck.scenario("later").step("ok", ok).target(Shop()).repeat(3)
"""
    )
    return path


def test_run_python_file_runs_every_scenario_and_fails_on_worst(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))  # 3 of 30 fail -> 90% < 95%
    code, out, _ = invoke("run", str(path), "-q")
    assert code == 1
    assert "FAIL  flaky  seed=7" in out
    assert "PASS  healthy  seed=1" in out
    assert "overall verdict FAIL" in out


def test_run_selects_one_scenario_by_variable_name_or_function(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))
    code, out, _ = invoke("run", f"{path}::healthy", "-q")
    assert (code, out.split()[0]) == (0, "PASS")
    code, out, _ = invoke("run", f"{path}::made_later", "-q")
    assert code == 0 and "later" in out


def test_thresholds_flags_change_the_verdict_and_exit_code(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))
    assert invoke("run", f"{path}::flaky", "-q", "--thresholds", "relaxed")[0] == 0
    assert invoke("run", f"{path}::flaky", "-q", "--min-success-rate", "0.85")[0] == 0
    assert invoke("run", f"{path}::flaky", "-q", "--min-success-rate", "0.95")[0] == 1


def test_seed_and_repeat_overrides(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))
    code, out, _ = invoke("run", f"{path}::flaky", "-q", "--seed", "99", "--repeat", "9")
    assert code == 0, out  # 9 iterations, none is the 10th
    assert "seed=99" in out


def test_report_dir_writes_all_four_formats(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))
    code, _, _ = invoke("run", f"{path}::flaky", "-q", "--report-dir", "out",
                        "-o", "single.json")  # fmt: skip
    assert code == 1
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["flaky.html", "flaky.json", "flaky.txt", "flaky.xml"]
    assert json.loads((tmp_path / "single.json").read_text())["verdict"] == "FAIL"
    suite = ET.parse(tmp_path / "out" / "flaky.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_toml_scenario_file_runs(app, tmp_path: Path) -> None:
    mod = app(0)
    (tmp_path / "s.toml").write_text(
        f"""
[scenario]
name = "toml-shop"
target = "{mod}:Shop"
steps = [{{name = "checkout", fn = "{mod}:checkout"}}]
repeat = 12
seed = 3

[[scenario.inject]]
type = "random_delay"
args = [0.0005, 0.001]

[[scenario.check]]
name = "threads"
type = "thread_limit"
args = [500]
severity = "warning"
"""
    )
    code, out, _ = invoke("run", "s.toml")
    assert code == 0, out
    assert out.startswith("chaoskit: toml-shop  PASS")
    assert "12 ok, 0 failed" in out


def test_yaml_scenario_file_runs_several_scenarios(app, tmp_path: Path) -> None:
    mod = app(4)
    (tmp_path / "s.yaml").write_text(
        f"""
scenarios:
  - name: yaml-a
    target: {mod}:Shop
    steps: ["{mod}:checkout"]
    repeat: 8
    thresholds: {{preset: relaxed, min_success_rate: 0.7}}
  - name: yaml-b
    target: {{factory: "{mod}:Shop"}}
    steps: ["{mod}:ok"]
    repeat: 4
"""
    )
    code, out, _ = invoke("run", "s.yaml", "-q")
    assert code == 0, out  # yaml-a: 6/8 = 75% >= 70%
    assert "PASS  yaml-a" in out and "PASS  yaml-b" in out


def test_unstable_exits_zero_unless_unstable_fails(app, tmp_path: Path) -> None:
    mod = app(0)
    (tmp_path / "s.toml").write_text(
        f"""
[scenario]
name = "slowish"
target = "{mod}:Shop"
steps = ["{mod}:ok"]
repeat = 30

[[scenario.check]]
name = "stock"
type = "state_consistency"
args = [{{import = "{mod}:consistent"}}]
severity = "warning"
"""
    )
    # one warning violation in 30 iterations: success rate 96.7% passes, the warning remains
    code, out, _ = invoke("run", "s.toml", "-q")
    assert out.startswith("UNSTABLE"), out
    assert code == 0
    assert invoke("run", "s.toml", "-q", "--unstable-fails")[0] == 1


def test_pyproject_defaults_apply(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.chaoskit]\nthresholds = "relaxed"\nreport_dir = "reports"\nreports = ["json"]\n'
        'failpoints = {"x" = "off"}  # owned by chaoskit.instrument, ignored here\n'
    )
    code, _, _ = invoke("run", f"{path}::flaky", "-q")
    assert code == 0
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["flaky.json"]


def test_report_command_rebuilds_every_format_from_the_event_log(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))
    assert invoke("run", f"{path}::flaky", "-q", "--events", "ev.jsonl",
                  "-o", "live.json")[0] == 1  # fmt: skip
    for fmt, name in (("html", "r.html"), ("junit", "r.xml"), ("json", "r.json")):
        code, _, err = invoke("report", "ev.jsonl", "--format", fmt, "-o", name)
        assert code == 1 and "FAIL: wrote" in err
    live = json.loads((tmp_path / "live.json").read_text())
    rebuilt = json.loads((tmp_path / "r.json").read_text())
    assert rebuilt == live
    code, out, _ = invoke("report", "ev.jsonl", "--thresholds", "relaxed")
    assert code == 0 and out.startswith("chaoskit: flaky  PASS")
    assert invoke("report", "ev.jsonl", "--exit-zero")[0] == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('[scenario]\nname = "x"\nsteps = ["nosuchmod_zz:f"]\n', "s.toml:3"),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\nrepeat = "many"\n', "s.toml:4"),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\n\n[[scenario.inject]]\ntype = "nope"\n',
         "s.toml:6"),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\ncolour = "red"\n', "scenario.colour"),
        ('[scenario]\nname = "x"\nsteps = ["os:getcwd"]\nthresholds = "lenient"\n',
         "unknown thresholds preset 'lenient'"),
        ('[scenario\nname = "x"\n', "invalid TOML"),
    ],
)  # fmt: skip
def test_bad_scenario_files_exit_2_naming_key_and_line(tmp_path: Path, monkeypatch, content: str,
                                                       needle: str) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(content)
    code, _, err = invoke("run", "s.toml")
    assert code == 2
    assert err.startswith("chaoskit: error:")
    assert needle in err


def test_bad_yaml_names_the_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("scenario:\n  name: x\n  steps: [os:getcwd]\n  repeat: [1\n")
    code, _, err = invoke("run", "s.yaml")
    assert code == 2 and "invalid YAML" in err and "s.yaml:" in err
    (tmp_path / "t.yaml").write_text("scenario:\n  name: x\n  steps:\n    - os:getcwd\n"
                                     "  workers: zero\n")  # fmt: skip
    code, _, err = invoke("run", "t.yaml")
    assert code == 2 and "scenario.workers" in err and "t.yaml:5" in err


def test_usage_errors_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert invoke("run")[0] == 2
    assert invoke("run", "nothing.txt")[0] == 2
    assert invoke("run", "missing.py")[0] == 2
    assert invoke("run", "x.py", "--thresholds", "bogus")[0] == 2
    (tmp_path / "empty.py").write_text("x = 1\n")
    code, _, err = invoke("run", "empty.py")
    assert code == 2 and "no module-level scenarios" in err
    assert invoke("report", "missing.jsonl")[0] == 2


def test_console_script_exit_code_in_a_real_process(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(10))
    proc = subprocess.run([CHAOSKIT, "run", f"{path}::flaky", "-q"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("FAIL  flaky")
    proc = subprocess.run([CHAOSKIT, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for cmd in ("run", "report", "proxy"):
        assert cmd in proc.stdout


def test_proxy_subcommand_serves_the_api_and_stops_on_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([CHAOSKIT, "proxy", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/proxies", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        assert body == {}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_progress_is_live_on_a_terminal_and_log_lines_elsewhere(app, tmp_path: Path) -> None:
    import os
    import pty

    mod = app(0)
    path = tmp_path / "slow.py"
    path.write_text(
        f"import time\nimport chaoskit as ck\nfrom {mod} import Shop\n"
        "s = ck.scenario('slowish').target(Shop()).step('nap', lambda s: time.sleep(0.01))"
        ".repeat(40).seed(1).build()\n"
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen([CHAOSKIT, "run", str(path), "-q"], stdout=subprocess.PIPE,
                            stderr=slave, cwd=tmp_path, text=True)  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data.decode(errors="replace"))
    proc.wait(timeout=60)
    os.close(master)
    screen = "".join(chunks)
    assert proc.returncode == 0
    assert "chaoskit slowish" in screen and "40 / 40" in screen and "it/s" in screen
    # not a terminal: --progress logs a final structlog line instead
    proc2 = subprocess.run([CHAOSKIT, "run", str(path), "-q", "--progress"], capture_output=True,
                           text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc2.returncode == 0
    assert "progress" in proc2.stderr and "iterations=40" in proc2.stderr


def test_a_python_file_that_fails_to_import_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.py").write_text("import chaoskit\nimport no_such_module_qq\n")
    code, _, err = invoke("run", "broken.py")
    assert code == 2
    assert "ModuleNotFoundError" in err and "broken.py:2" in err


def test_report_from_a_crashed_runs_torn_log(app, tmp_path: Path) -> None:
    path = py_scenarios(tmp_path, app(0))
    assert invoke("run", f"{path}::healthy", "-q", "--events", "ev.jsonl")[0] == 0
    log = tmp_path / "ev.jsonl"
    lines = log.read_text().splitlines()
    # a crash: the run.finished line and half of the last iteration's are missing
    log.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][: len(lines[-2]) // 2])
    code, out, _ = invoke("report", "ev.jsonl", "-f", "json")
    data = json.loads(out)
    kept = sum('"kind":"iteration.finished"' in line for line in lines[:-2])
    assert kept >= 4
    assert data["iterations"] == kept
    # the history up to the crash is kept, but a run that never finished is never a PASS
    assert data["interrupted"] and "never finished" in data["interrupt_reason"]
    assert data["verdict"] == "FAIL" and code == 1


def test_metrics_port_serves_prometheus_metrics_during_the_run(app, tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    mod = app(0)
    path = tmp_path / "long.py"
    path.write_text(
        f"import time\nimport chaoskit as ck\nfrom {mod} import Shop\n"
        "s = ck.scenario('longrun').target(Shop()).step('nap', lambda s: time.sleep(0.005))"
        ".run_for(4).seed(1).build()\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([CHAOSKIT, "run", str(path), "-q", "--metrics-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)  # fmt: skip
    seen = 0.0
    active = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.1)
                continue
            for line in body.splitlines():
                if line.startswith('chaoskit_iterations_total{scenario="longrun"}'):
                    seen = float(line.split()[-1])
                if line.startswith('chaoskit_run_active{scenario="longrun"}'):
                    active = float(line.split()[-1])
            if seen > 0 and active == 1.0:
                break
            time.sleep(0.1)
    finally:
        out, err = proc.communicate(timeout=60)
    assert seen > 0 and active == 1.0, err
    assert proc.returncode == 0 and out.startswith("PASS  longrun")
    assert f"serving metrics on http://127.0.0.1:{port}/metrics" in err
