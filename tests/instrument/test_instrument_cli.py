"""python -m chaoskit.instrument, run in real processes."""

from __future__ import annotations

import json
import signal
import sys

PROG = """
import sys

def work(x):
    return x * 2

class Repo:
    def save(self, v):
        return "saved"

print("argv", sys.argv, __name__, __file__ == __spec__ if __spec__ else __file__)
line = sys.stdin.readline().strip()
print("stdin", line)
print("work", work(2), "save", Repo().save(1))
mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "boom":
    def inner():
        raise RuntimeError("boom!")
    inner()
if mode == "exit":
    sys.exit(7)
if mode == "exitmsg":
    sys.exit("bye")
if mode == "interrupt":
    raise KeyboardInterrupt
"""


def test_program_runs_exactly_as_without_the_wrapper(run, write):
    write("prog.py", PROG)
    for args in (["a", "b"], ["boom"], ["exit"], ["exitmsg"]):
        plain = run("prog.py", *args, wrapper=False, input="hello\n")
        wrapped = run("--no-summary", "prog.py", *args, input="hello\n")
        assert wrapped.stdout == plain.stdout, args
        assert wrapped.stderr == plain.stderr, args
        assert wrapped.returncode == plain.returncode, args
        if args == ["boom"]:
            assert "RuntimeError: boom!" in wrapped.stderr and "chaoskit" not in wrapped.stderr


def test_uncaught_keyboard_interrupt_dies_by_sigint_like_python(run, write):
    write("prog.py", PROG)
    plain = run("prog.py", "interrupt", wrapper=False, input="\n")
    wrapped = run("--no-summary", "prog.py", "interrupt", input="\n")
    assert plain.returncode == wrapped.returncode == -signal.SIGINT
    assert wrapped.stderr == plain.stderr


def test_module_mode_matches_python_dash_m(run, write):
    write("pkg/__init__.py", "")
    write(
        "pkg/__main__.py",
        "import sys\nprint(sys.argv[0].endswith('__main__.py'), __name__, __package__, __spec__.name)\nsys.exit(3)\n",
    )
    write("pkg/tool.py", "import sys\nprint(sys.argv, __name__, __package__, __spec__.name)\n")
    for args in (["-m", "pkg", "x"], ["-m", "pkg.tool", "--flag", "-f"]):
        plain = run(*args, wrapper=False)
        wrapped = run("--no-summary", *args)
        assert (wrapped.stdout, wrapped.returncode) == (plain.stdout, plain.returncode), args
    missing = run("-m", "no_such_mod_xyz")
    assert missing.returncode == 1 and "No module named no_such_mod_xyz" in missing.stderr


def test_main_targets_are_armed_before_the_module_body_runs(run, write):
    write("prog.py", PROG)
    r = run(
        "-f",
        "__main__:work=return(99)",
        "-f",
        "__main__:Repo.save=1*raise(OSError)",
        "-f",
        "__main__:nothere=return(1)",
        "prog.py",
        input="\n",
    )
    assert r.returncode == 1
    assert "OSError" in r.stderr
    lines = {line.split()[0]: line for line in r.stderr.splitlines() if line.startswith("  ")}
    assert "patched" in lines["__main__:work"] and "hits 1" in lines["__main__:work"]
    assert "firings 1" in lines["__main__:Repo.save"]
    assert "unresolved" in lines["__main__:nothere"]


def test_targets_named_after_the_dash_m_module_patch_the_running_program(run, write):
    """``-f app.cli:main=... -m app.cli``: the module runs as ``__main__``, and its
    targets are that program's functions (a package's ``-m pkg`` runs ``pkg.__main__``)."""
    write("tool.py", "def f():\n    return 1\n\nprint('f', f())\n")
    write("pkg/__init__.py", "")
    write("pkg/__main__.py", "def g():\n    return 1\n\nprint('g', g())\n")
    r = run("-f", "tool:f=return(2)", "-f", "tool:missing=return(0)", "-m", "tool")
    assert r.returncode == 0 and r.stdout == "f 2\n"
    lines = {line.split()[0]: line for line in r.stderr.splitlines() if line.startswith("  ")}
    assert "patched" in lines["tool:f"] and "firings 1" in lines["tool:f"]
    assert "unresolved" in lines["tool:missing"]
    r = run("-f", "pkg.__main__:g=return(3)", "-m", "pkg")
    assert r.returncode == 0 and r.stdout == "g 3\n"


def test_targets_in_modules_imported_later_and_decorator_captures(run, write):
    write(
        "lib.py",
        """
        HANDLERS = []
        def route(f):
            HANDLERS.append(f)
            return f
        @route
        def index():
            return "index"
        """,
    )
    write("main.py", "import lib\nprint([h() for h in lib.HANDLERS])\n")
    r = run("-f", "lib:index=return('chaos')", "main.py")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['chaos']"
    assert "lib:index" in r.stderr and "hits 1" in r.stderr


def test_report_json_and_never_imported_targets(run, write, tmp_path):
    write("main.py", "print('hi')\n")
    report = tmp_path / "out" / "r.json"
    report.parent.mkdir()
    r = run(
        "-f",
        "nevermod:f=return(1)",
        "-f",
        "plainfp=return(1)",
        "--seed",
        "5",
        "--report",
        str(report),
        "main.py",
    )
    assert r.returncode == 0
    data = json.loads(report.read_text())
    assert data["seed"] == 5 and data["exit_code"] == 0 and data["program"] == "main.py"
    by = {t["name"]: t for t in data["targets"]}
    assert by["nevermod:f"]["status"] == "never imported"
    assert by["plainfp"]["status"] == "never registered" and by["plainfp"]["kind"] == "failpoint"


def test_strict_fails_with_exit_2_naming_the_target(run, write):
    write("main.py", "import json\nprint(json.dumps(1))\n")
    bad = run("--strict", "-f", "nevermod:f=return(1)", "main.py")
    assert bad.returncode == 2 and "nevermod:f" in bad.stderr and bad.stdout == "1\n"
    good = run("--strict", "-f", "json:dumps=return('x')", "main.py")
    assert good.returncode == 0 and good.stdout == "x\n"


def test_seed_reproduces_firings(run, write):
    write("main.py", "import lib\nprint(''.join('x' if lib.f() else '.' for _ in range(60)))\n")
    write("lib.py", "def f():\n    return False\n")
    outs = [
        run("--seed", str(s), "-f", "lib:f=50%return(True)", "main.py").stdout for s in (1, 1, 2)
    ]
    assert outs[0] == outs[1] != outs[2]
    assert 10 < outs[0].count("x") < 50


def test_child_processes_are_instrumented_and_counted(run, write):
    write("lib.py", "def f():\n    return 'real'\n")
    write("child.py", "import lib\nprint('child', lib.f())\n")
    write(
        "main.py",
        """
        import subprocess, sys, lib
        print('parent', lib.f(), flush=True)
        subprocess.run([sys.executable, 'child.py'], check=True)
        subprocess.run([sys.executable, 'child.py'], check=True)
        """,
    )
    r = run("-f", "lib:f=return('chaos')", "main.py")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["parent chaos", "child chaos", "child chaos"]
    assert "3 processes" in r.stderr and "hits 3" in r.stderr
    off = run("--no-propagate", "-f", "lib:f=return('chaos')", "main.py")
    assert off.stdout.splitlines() == ["parent chaos", "child real", "child real"]


def test_multiprocessing_spawn_children_are_instrumented(run, write):
    write("lib.py", "def f(x):\n    return x\n")
    write(
        "main.py",
        """
        import multiprocessing as mp
        import lib
        if __name__ == '__main__':
            ctx = mp.get_context('spawn')
            with ctx.Pool(1) as pool:
                print(pool.map(lib.f, [1, 2]))
        """,
    )
    r = run("-f", "lib:f=return(0)", "main.py", timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[0, 0]"


def test_main_targets_are_armed_in_multiprocessing_spawn_children(run, write):
    """A spawn child re-runs the main script as ``__mp_main__``: its targets fire there
    too, for scripts and ``-m`` modules, and the children's firings are counted."""
    write(
        "main.py",
        """
        import multiprocessing as mp

        def square(x):
            return x * x

        if __name__ == '__main__':
            with mp.get_context('spawn').Pool(1) as pool:
                print(pool.map(square, [2, 3]))
        """,
    )
    r = run("-f", "__main__:square=return(-1)", "main.py", timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[-1, -1]"
    line = next(ln for ln in r.stderr.splitlines() if "__main__:square" in ln)
    assert "patched" in line and "firings 2" in line, r.stderr
    r = run("-f", "main:square=return(-2)", "-m", "main", timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[-2, -2]"


def test_probe_scopes_of_the_program_measure_multiprocessing_spawn_children(run, write, tmp_path):
    """``--probe __main__`` (or ``__main__:func``, or the ``-m`` module's name) measures the
    program's functions in spawn children too, which re-run it as ``__mp_main__``."""
    write(
        "main.py",
        """
        import multiprocessing as mp

        def down(n):
            return 0 if n == 0 else 1 + down(n - 1)

        if __name__ == '__main__':
            with mp.get_context('spawn').Pool(1) as pool:
                print(pool.map(down, [12]))
        """,
    )
    cases = {
        ("--probe", "__main__", "main.py"): {"__main__:down": 13},
        ("--probe", "__main__:down", "main.py"): {"__main__:down": 13},
        ("--probe", "main:down", "-m", "main"): {"main:down": 13},
        # an armed target swaps the code: the probe watches the armed code
        ("-f", "__main__:down=0%return(1)", "--probe", "__main__", "main.py"): {
            "__main__:down": 13
        },
    }
    for i, (args, expected) in enumerate(cases.items()):
        report = tmp_path / f"r{i}.json"
        r = run("--report", str(report), *args, timeout=180)
        assert r.returncode == 0 and r.stdout.strip() == "[12]", r.stderr
        assert json.loads(report.read_text())["max_depths"] == expected, (args, r.stderr)


def test_target_named_after_the_dash_m_module_also_patches_that_module_imported_by_name(run, write):
    """``-f app.cli:helper=... -m app.cli`` patches the running program, and also the second
    copy of ``app.cli`` that the program gets when something imports it by name."""
    write("app/__init__.py", "")
    write(
        "app/cli.py",
        """
        def helper(n):
            return n * 2

        if __name__ == '__main__':
            import app.other
            print(helper(1), app.other.use())
        """,
    )
    write("app/other.py", "from app.cli import helper\n\ndef use():\n    return helper(5)\n")
    r = run("-f", "app.cli:helper=return(-1)", "-m", "app.cli")
    assert r.returncode == 0 and r.stdout.strip() == "-1 -1", r.stderr
    line = next(ln for ln in r.stderr.splitlines() if "app.cli:helper" in ln)
    assert "patched" in line and "hits 2" in line and "firings 2" in line, r.stderr


def test_user_sitecustomize_is_chained_in_children(run, write, tmp_path):
    write("site_dir/sitecustomize.py", "import os\nos.environ['USER_SITE_RAN'] = 'yes'\n")
    write("child.py", "import os\nprint(os.environ.get('USER_SITE_RAN'))\n")
    write("main.py", "import subprocess, sys\nsubprocess.run([sys.executable, 'child.py'])\n")
    r = run("-f", "x=return(1)", "main.py", env={"PYTHONPATH": str(tmp_path / "site_dir")})
    assert r.stdout.strip() == "yes", r.stderr


def test_configuration_sources_and_precedence(run, write, tmp_path):
    write(
        "lib.py", "def a():\n    return 'a'\ndef b():\n    return 'b'\ndef c():\n    return 'c'\n"
    )
    write("main.py", "import lib\nprint(lib.a(), lib.b(), lib.c())\n")
    write(
        "pyproject.toml",
        """
        [project]
        name = "x"
        [tool.chaoskit]
        failpoints = { "lib:a" = "return('A')", "lib:b" = "return('B')" }
        seed = 3
        [tool.chaoskit.other]
        ignored = 1
        """,
    )
    write("extra.toml", "failpoints = [\"lib:c=return('C')\"]\n")
    r = run("--config", "extra.toml", "-f", "lib:b=return('flag')", "main.py")
    assert r.stdout.strip() == "A flag C", r.stderr
    assert "seed 3" in r.stderr
    env = run("main.py", env={"CHAOSKIT_FAILPOINTS": "lib:a=return('env')"})
    assert env.stdout.strip() == "env B c"


def test_user_errors_exit_2_and_name_the_offender(run, write):
    write("main.py", "print('ran')\n")
    cases = [
        (["-f", "lib:f=retrun(1)", "main.py"], "lib:f"),
        (["-f", "novalue", "main.py"], "novalue"),
        (["--bogus", "main.py"], "--bogus"),
        (["--seed", "abc", "main.py"], "abc"),
        ([], "no program"),
        (["-f", "a:b:c=return(1)", "main.py"], "a:b:c"),
    ]
    for args, needle in cases:
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and "ran" not in r.stdout, args
    write("pyproject.toml", "[tool.chaoskit]\nbogus = 1\n")
    r = run("main.py")
    assert r.returncode == 2 and "bogus" in r.stderr and "pyproject.toml" in r.stderr


def test_missing_script_behaves_like_python(run):
    plain = run("nope.py", wrapper=False)
    wrapped = run("nope.py")
    assert wrapped.returncode == plain.returncode == 2
    assert wrapped.stderr.split(":", 1)[1] == plain.stderr.split(":", 1)[1]


def test_probe_depths_in_report_including_child_processes(run, write, tmp_path):
    write("rec.py", "def down(n):\n    return 0 if n == 0 else 1 + down(n - 1)\n")
    write("child.py", "import rec\nrec.down(45)\n")
    write(
        "main.py",
        "import subprocess, sys, rec\nprint(rec.down(30))\n"
        "subprocess.run([sys.executable, 'child.py'], check=True)\n",
    )
    report = tmp_path / "r.json"
    r = run("--probe", "rec", "--report", str(report), "main.py")
    assert r.returncode == 0, r.stderr
    depths = json.loads(report.read_text())["max_depths"]
    assert depths.get("rec:down", 0) >= 45, depths  # the child recursed deeper
    assert "max depth" in r.stderr


def test_probe_scopes_in_the_program_itself(run, write, tmp_path):
    """The program's own functions can be probed: ``__main__`` (or the ``-m`` module's
    name) as a module, class or function scope; a scope naming nothing is a note."""
    write(
        "prog.py",
        """
        import sys

        def down(n):
            return 0 if n == 0 else 1 + down(n - 1)

        class Tree:
            def walk(self, n):
                return 0 if n == 0 else 1 + self.walk(n - 1)

        print(down(int(sys.argv[1])), Tree().walk(7))
        """,
    )
    cases = {
        ("--probe", "__main__", "prog.py"): {"__main__:down": 21, "__main__:Tree.walk": 8},
        ("--probe", "__main__:down", "prog.py"): {"__main__:down": 21},
        ("--probe", "__main__:Tree", "prog.py"): {"__main__:Tree.walk": 8},
        ("--probe", "prog:down", "-m", "prog"): {"prog:down": 21},
    }
    for i, (args, expected) in enumerate(cases.items()):
        report = tmp_path / f"r{i}.json"
        r = run("--report", str(report), *args, "20")
        assert r.returncode == 0 and r.stdout == "20 7\n", r.stderr
        assert json.loads(report.read_text())["max_depths"] == expected, args
    r = run("--probe", "__main__:missing", "prog.py", "3")
    assert r.returncode == 0 and r.stdout == "3 7\n"
    assert "note: probe scope names nothing" in r.stderr and "'missing'" in r.stderr


def test_package_probe_scope_measures_the_programs_own_dunder_main(run, write, tmp_path):
    """``--probe pkg -m pkg``: the package scope covers its submodules, including
    ``pkg.__main__``, the program itself (run as ``__main__``, never imported)."""
    write("pkg/__init__.py", "def lib():\n    return 1\n")
    write(
        "pkg/__main__.py",
        "import pkg\n\ndef down(n):\n    return 0 if n == 0 else 1 + down(n - 1)\n\n"
        "print(down(6), pkg.lib())\n",
    )
    report = tmp_path / "r.json"
    r = run("--report", str(report), "--probe", "pkg", "-m", "pkg")
    assert r.returncode == 0 and r.stdout == "6 1\n", r.stderr
    assert json.loads(report.read_text())["max_depths"] == {"pkg.__main__:down": 7, "pkg:lib": 1}


def test_help_and_version(run):
    r = run("--help")
    assert r.returncode == 0 and "--failpoint" in r.stdout and "--no-propagate" in r.stdout
    v = run("--version")
    assert v.returncode == 0 and v.stdout.startswith("chaoskit ")
    assert sys.executable  # the interpreter under test ran both


def test_strict_counts_patched_targets_as_resolved_even_if_never_called(run, write):
    write("lib.py", "def never_called():\n    return 1\n")
    write("main.py", "import lib\nprint('ok')\n")
    r = run("--strict", "-f", "lib:never_called=return(2)", "main.py", env={"CHAOSKIT_STRICT": "1"})
    assert r.returncode == 0, r.stderr
    assert "patched" in r.stderr and "hits 0" in r.stderr


def test_plain_failpoint_names_reach_code_that_declares_them(run, write):
    write(
        "main.py",
        """
        from chaoskit import failpoint
        print([failpoint.inject("cache-miss") for _ in range(3)])
        """,
    )
    r = run("-f", "cache-miss=2*return('miss')", "main.py")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['miss', 'miss', None]"
    line = next(line for line in r.stderr.splitlines() if "cache-miss" in line)
    assert "never registered" not in line and "registered" in line
    assert "hits 3" in line and "firings 2" in line


def _reply_server(reply: bytes):
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_redirect_sends_the_programs_connections_elsewhere(run, write):
    real, via = _reply_server(b"real"), _reply_server(b"via")
    try:
        port, via_port = real.getsockname()[1], via.getsockname()[1]
        write(
            "main.py",
            f"""
            import socket
            with socket.create_connection(("127.0.0.1", {port}), timeout=10) as s:
                print(s.recv(16).decode())
            """,
        )
        assert run("main.py").stdout.strip() == "real"
        r = run("--redirect", f"127.0.0.1:{port}=127.0.0.1:{via_port}", "main.py")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "via"
    finally:
        real.close()
        via.close()


def test_each_entry_is_applied_once_in_the_wrapper(run, write):
    write(
        "main.py",
        "from chaoskit.hooks.patcher import active_patches\nprint(len(active_patches()))\n",
    )
    r = run(
        "-f", "json:dumps=return(1)", "main.py", env={"CHAOSKIT_FAILPOINTS": "json:loads=return(2)"}
    )
    assert r.stdout.strip() == "2", r.stderr


def test_main_targets_from_the_environment(run, write):
    write("prog.py", PROG)
    r = run("prog.py", input="\n", env={"CHAOSKIT_FAILPOINTS": "__main__:work=return(99)"})
    assert r.returncode == 0, r.stderr
    assert "work 99" in r.stdout
    assert "patched" in next(line for line in r.stderr.splitlines() if "__main__:work" in line)


def test_directory_and_zip_programs_run_their_main(run, write, tmp_path):
    import zipfile

    src = "import sys\nprint(sys.argv, __name__, repr(__package__))\nsys.exit(4)\n"
    write("app_dir/__main__.py", src)
    with zipfile.ZipFile(tmp_path / "app.zip", "w") as zf:
        zf.writestr("__main__.py", src)
    for target in ("app_dir", "app.zip"):
        plain = run(target, "x", wrapper=False)
        wrapped = run("--no-summary", target, "x")
        assert (wrapped.stdout, wrapped.returncode) == (plain.stdout, plain.returncode), target
        assert plain.returncode == 4


def test_sigterm_still_kills_but_the_summary_and_report_are_written(write, tmp_path):
    import os
    import subprocess

    write("lib.py", "def f():\n    return 1\n")
    write("main.py", "import lib, time\nlib.f()\nprint('ready', flush=True)\ntime.sleep(60)\n")
    report = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSKIT_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaoskit.instrument",
            "--report",
            str(report),
            "-f",
            "lib:f=return(2)",
            "main.py",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM
    assert "lib:f" in err and "hits 1" in err
    data = json.loads(report.read_text())
    assert data["exit_code"] == -signal.SIGTERM and data["targets"][0]["firings"] == 1
