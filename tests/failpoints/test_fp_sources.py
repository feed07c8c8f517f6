"""Activation sources: the environment (in child processes), the watched file, strict mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chaoskit.errors import ConfigError
from chaoskit.failpoints import failpoint, registry
from chaoskit.failpoints.sources import FileSource, apply_entries, load_environment
from chaoskit.failpoints.terms import parse_entries

ROOT = Path(__file__).resolve().parents[2]


def run_python(
    code: str, tmp_path: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(code))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSKIT_")}
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    return subprocess.run(
        [sys.executable, str(script)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )


SERVICE = """
from chaoskit.failpoints import failpoint

@failpoint("save-error")
def save():
    return "saved"

def read():
    return failpoint.inject("read-value") or "real"
"""


def test_environment_applies_at_import_including_later_modules(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(SERVICE)
    proc = run_python(
        """
        import chaoskit
        import service   # registered after chaoskit read the environment
        results = []
        for _ in range(3):
            try:
                results.append(service.save())
            except OSError as exc:
                results.append(f"OSError:{exc.errno}")
        print(results, service.read())
        """,
        tmp_path,
        {
            "CHAOSKIT_FAILPOINTS": "save-error=1*raise(OSError, 5)->return(stub); read-value=return(fake)"
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['OSError:5', 'stub', 'stub'] fake"


def test_malformed_environment_fails_loudly(tmp_path: Path) -> None:
    proc = run_python(
        "import chaoskit\n", tmp_path, {"CHAOSKIT_FAILPOINTS": "a=return(1);b=slep(1)"}
    )
    assert proc.returncode != 0
    assert "ConfigError" in proc.stderr
    assert "entry 'b'" in proc.stderr and "CHAOSKIT_FAILPOINTS" in proc.stderr


def test_function_targets_in_the_environment_go_to_the_patcher(tmp_path: Path) -> None:
    (tmp_path / "legacy.py").write_text("def compute():\n    return 'real'\n")
    proc = run_python(
        """
        import chaoskit
        import legacy
        print(legacy.compute())
        """,
        tmp_path,
        {"CHAOSKIT_FAILPOINTS": "legacy:compute=return(patched)"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "patched"


def test_strict_mode_exits_non_zero_for_unregistered_names(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(SERVICE)
    code = """
        import chaoskit
        import service
        service.save()
        print("ran")
        """
    env = {"CHAOSKIT_STRICT": "1", "CHAOSKIT_FAILPOINTS": "save-error=off;typo-name=return(1)"}
    proc = run_python(code, tmp_path, env)
    assert "ran" in proc.stdout
    assert proc.returncode == 3
    assert "typo-name" in proc.stderr and "save-error" not in proc.stderr

    env["CHAOSKIT_FAILPOINTS"] = "save-error=return(1)"
    proc = run_python(code, tmp_path, env)
    assert proc.returncode == 0, proc.stderr


def test_strict_mode_off_by_default(tmp_path: Path) -> None:
    proc = run_python("import chaoskit\n", tmp_path, {"CHAOSKIT_FAILPOINTS": "typo=return(1)"})
    assert proc.returncode == 0, proc.stderr


def test_load_environment_in_process(fp_name: str) -> None:
    load_environment({"CHAOSKIT_FAILPOINTS": f"{fp_name}=return(env)"})
    assert failpoint.inject(fp_name) == "env"


def test_apply_entries_disables_off_entries(fp_name: str) -> None:
    failpoint.enable(fp_name, "return(1)")
    apply_entries(parse_entries(f"{fp_name}=off"))
    assert not failpoint.is_active(fp_name)


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_file_source_rereads_on_change(tmp_path: Path, fp_name: str) -> None:
    path = tmp_path / "failpoints.txt"
    path.write_text(f"# comment\n{fp_name}=return(1)\n{fp_name}-b=return(b)\n")
    with FileSource(path, interval=0.02) as source:
        assert failpoint.inject(fp_name) == 1
        assert failpoint.inject(fp_name + "-b") == "b"
        path.write_text(f"{fp_name}=return(22)\n")  # changed one, removed the other
        assert wait_for(lambda: failpoint.inject(fp_name) == 22)
        assert wait_for(lambda: not failpoint.is_active(fp_name + "-b"))
        reloads = source.reloads
        path.write_text(f"{fp_name}=retrun(3)\n")  # malformed: logged, previous kept
        assert wait_for(lambda: source.last_error is not None)
        assert failpoint.inject(fp_name) == 22
        assert source.reloads == reloads
        assert "entry" in str(source.last_error) and "position" in str(source.last_error)
        path.unlink()  # a deleted file disables its entries
        assert wait_for(lambda: not failpoint.is_active(fp_name))
    assert not registry.status()


def test_file_source_keeps_counts_of_unchanged_entries(tmp_path: Path, fp_name: str) -> None:
    path = tmp_path / "fp.txt"
    path.write_text(f"{fp_name}=return(1)\n")
    with FileSource(path, interval=0.02) as source:
        failpoint.inject(fp_name)
        reloads = source.reloads
        path.write_text(f"{fp_name}=return(1)\nother-{fp_name}=off\n")
        assert wait_for(lambda: source.reloads > reloads)
        assert failpoint.status()[fp_name].hits == 1


def test_malformed_file_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("a=return(1)\nb=sleep(\n")
    with pytest.raises(ConfigError) as info:
        FileSource(path).start()
    assert str(path) in str(info.value) and "entry 'b'" in str(info.value)


def test_file_from_environment_in_a_child_process(tmp_path: Path) -> None:
    fp_file = tmp_path / "fp.txt"
    fp_file.write_text("flag=return(first)\n")
    proc = run_python(
        """
        import time, pathlib
        from chaoskit.failpoints import failpoint
        print(failpoint.inject("flag"), flush=True)
        pathlib.Path("fp.txt").write_text("flag=return(second)\\n")
        deadline = time.monotonic() + 20
        while failpoint.inject("flag") != "second" and time.monotonic() < deadline:
            time.sleep(0.02)
        print(failpoint.inject("flag"))
        """,
        tmp_path,
        {"CHAOSKIT_FAILPOINTS_FILE": str(fp_file), "CHAOSKIT_FAILPOINTS_FILE_INTERVAL": "0.05"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["first", "second"]
