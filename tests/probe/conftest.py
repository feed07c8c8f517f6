"""Fixtures for the probe tests: throwaway modules with known recursion, and backends.

The ``backend`` and ``exc_backend`` fixtures run a test once per backend *and core*: with
the C accelerator and with the pure-Python callbacks wherever the C core has that backend
(sys.monitoring on 3.12+, settrace and setprofile on 3.11), through ``CHAOSKIT_PROBE_CORE``.
Other tests run the default core (C when built). A C core that is not built skips its
variants here; ``test_probe_core.py`` fails instead when it should have been built.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from chaoskit.hooks import probe_core
from chaoskit.hooks.probe_sysmon import free_tool_id

_counter = itertools.count()

BACKEND_NAMES = (
    ["sys.monitoring", "settrace", "setprofile"]
    if sys.version_info >= (3, 12)
    else ["settrace", "setprofile"]
)
# backends that see exceptions (setprofile only sees calls and returns)
EXCEPTION_BACKENDS = [b for b in BACKEND_NAMES if b != "setprofile"]


def c_core_has(backend: str) -> bool:
    """Whether the C core accelerates ``backend`` on this Python (when it is built)."""
    return backend == "sys.monitoring" or sys.version_info < (3, 12)


def _with_cores(backends: list[str]) -> list[object]:
    return [
        pytest.param((name, core), id=f"{name}-{core}")
        for name in backends
        for core in (("c", "python") if c_core_has(name) else ("python",))
    ]


def use_core(monkeypatch: pytest.MonkeyPatch, core: str) -> None:
    """Make probes started in this test run ``core`` (skip if the C core is not built)."""
    if core == "c" and probe_core.load()[0] is None:
        pytest.skip(probe_core.load()[1])
    monkeypatch.setenv(probe_core.ENV_VAR, core)


@pytest.fixture
def make_module(tmp_path: Path) -> Iterator[Callable[..., ModuleType | str]]:
    """``make_module(source, name=None, imported=True)``: a fresh module on sys.path."""
    created: list[str] = []
    sys.path.insert(0, str(tmp_path))

    def make(source: str, name: str | None = None, imported: bool = True) -> ModuleType | str:
        mod_name = name or f"probe_target_{next(_counter)}"
        parts = mod_name.split(".")
        directory = tmp_path
        for pkg in parts[:-1]:
            directory = directory / pkg
            directory.mkdir(exist_ok=True)
            init = directory / "__init__.py"
            if not init.exists():
                init.write_text("")
        (directory / f"{parts[-1]}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        created.append(mod_name)
        if not imported:
            return mod_name
        return importlib.import_module(mod_name)

    yield make
    sys.path.remove(str(tmp_path))
    for name in list(sys.modules):
        if any(
            name == c or name.startswith(c.split(".")[0] + ".") or name == c.split(".")[0]
            for c in created
        ):
            del sys.modules[name]


@pytest.fixture(params=_with_cores(BACKEND_NAMES))
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name, core = request.param
    use_core(monkeypatch, core)
    return str(name)


@pytest.fixture(params=_with_cores(EXCEPTION_BACKENDS))
def exc_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name, core = request.param
    use_core(monkeypatch, core)
    return str(name)


@pytest.fixture(autouse=True)
def _hooks_restored() -> Iterator[None]:
    """Every test must leave trace/profile functions and tool ids as it found them."""
    trace, profile = sys.gettrace(), sys.getprofile()
    tool_before = free_tool_id()[0]
    yield
    assert sys.gettrace() is trace
    assert sys.getprofile() is profile
    assert free_tool_id()[0] == tool_before
