"""Scopes: parsing, errors, resolution, and modules imported after the probe started."""

from __future__ import annotations

import importlib
import sys

import pytest

import chaoskit.hooks
from chaoskit.errors import ChaosKitError, ConfigError
from chaoskit.hooks.probe import Probe, active_probes, probe
from chaoskit.hooks.probe_scope import Scope, parse_scope, resolve_code

RECURSIVE = """
def down(n):
    return 0 if n == 0 else down(n - 1)

class Outer:
    class Inner:
        def spin(self, n):
            return 0 if n == 0 else self.spin(n - 1)

    def run(self, n):
        return self.Inner().spin(n)
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("myapp", Scope("myapp")),
        ("myapp.saga", Scope("myapp.saga")),
        ("myapp.saga:Saga", Scope("myapp.saga", "Saga")),
        ("myapp.jobs:retry", Scope("myapp.jobs", "retry")),
        ("  myapp.jobs:Outer.Inner.run ", Scope("myapp.jobs", "Outer.Inner.run")),
    ],
)
def test_parse_scope(text, expected):
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 0),
        ("pkg..mod", 4),
        ("9lives", 0),
        ("a.b:", 4),
        ("a b", 1),
        ("mod:Cls.", 8),
        ("a:b:c", 3),
    ],
)
def test_malformed_scope_names_text_and_position(text, position):
    with pytest.raises(ConfigError) as info:
        parse_scope(text)
    assert info.value.text == text
    assert info.value.position == position
    assert repr(text) in str(info.value)


def test_missing_module_is_a_config_error():
    with pytest.raises(ConfigError, match="no module named 'surely_not_a_module_xyz'"):
        probe("surely_not_a_module_xyz")


def test_missing_attribute_is_a_config_error(make_module):
    mod = make_module(RECURSIVE)
    with pytest.raises(ConfigError, match="has no 'nothing_here'") as info:
        probe(f"{mod.__name__}:nothing_here").start()
    assert info.value.text == f"{mod.__name__}:nothing_here"
    assert active_probes() == []


def test_non_function_attribute_is_a_config_error(make_module):
    mod = make_module("VALUE = 3\n")
    with pytest.raises(ConfigError, match="neither a class nor a Python function"):
        probe(f"{mod.__name__}:VALUE").start()


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown probe backend"):
        probe("json", backend="dtrace")


def test_no_scope_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one scope"):
        probe()


def test_nested_classes_are_in_the_class_scope(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(f"{mod.__name__}:Outer", backend=backend) as p:
        mod.Outer().run(7)
        mod.down(3)
    assert p.max_depths == {
        f"{mod.__name__}:Outer.run": 1,
        f"{mod.__name__}:Outer.Inner.spin": 8,
    }


def test_module_imported_after_start_is_picked_up(make_module, backend):
    name = make_module(RECURSIVE, imported=False)
    assert name not in sys.modules
    with probe(name, backend=backend) as p:
        mod = importlib.import_module(name)
        mod.down(9)
    assert p.max_depths[f"{name}:down"] == 10
    # the module never sees the probe's loader wrapper
    assert type(mod.__loader__).__name__ == "SourceFileLoader"
    assert mod.__spec__.loader is mod.__loader__


def test_submodule_imported_after_start_is_picked_up(make_module, backend):
    make_module("", name="probepkg_a.core")
    make_module(RECURSIVE, name="probepkg_a.later", imported=False)
    with probe("probepkg_a", backend=backend) as p:
        from probepkg_a import later

        later.down(4)
    assert p.max_depths["probepkg_a.later:down"] == 5


def test_function_scope_in_module_imported_later(make_module, backend):
    name = make_module(RECURSIVE, imported=False)
    with probe(f"{name}:down", backend=backend) as p:
        importlib.import_module(name).down(6)
    assert p.max_depths == {f"{name}:down": 7}


def test_import_watcher_is_removed_and_imports_still_work(make_module):
    before = list(sys.meta_path)
    mod = make_module(RECURSIVE)
    with probe(mod.__name__):
        assert len(sys.meta_path) == len(before) + 1
    assert sys.meta_path == before


def test_callable_module_and_function_are_the_same_entry_point(make_module):
    mod = make_module(RECURSIVE)
    entry = chaoskit.hooks.probe
    with entry(mod.__name__) as p:
        assert active_probes() == [p]
        assert entry.active_probes() == [p]
        mod.down(2)
    assert isinstance(p, Probe)
    module = sys.modules["chaoskit.hooks.probe"]
    with module(mod.__name__) as q:
        assert module.active_probes() == [q]
    assert active_probes() == []


def test_a_probe_runs_once(make_module):
    mod = make_module(RECURSIVE)
    p = probe(mod.__name__)
    with p:
        pass
    with pytest.raises(ChaosKitError, match="already stopped"):
        p.start()


def test_watched_lists_resolved_functions(make_module):
    mod = make_module(RECURSIVE)
    with probe(mod.__name__) as p:
        assert p.watched == [
            f"{mod.__name__}:Outer.Inner.spin",
            f"{mod.__name__}:Outer.run",
            f"{mod.__name__}:down",
        ]


def test_later_import_with_a_scope_naming_nothing_keeps_the_import_working(make_module):
    name = make_module(RECURSIVE, imported=False)
    with probe(f"{name}:missing") as p:
        mod = importlib.import_module(name)
        assert mod.down(3) == 0
    assert len(p.unresolved) == 1
    assert f"{name}:missing" in p.unresolved[0]
    assert p.max_depths == {}


def test_patched_function_code_is_followed(make_module, backend):
    """chaoskit.hooks.patch swaps __code__; the probe follows it at refresh (iteration start)."""
    from chaoskit.hooks import patch

    mod = make_module(RECURSIVE)
    with probe(f"{mod.__name__}:down", backend=backend) as p:
        mod.down(3)
        with patch(f"{mod.__name__}:down", "0%return(1)"):
            assert id(mod.down.__code__) not in p._codes
            p.refresh()
            mod.down(8)
        mod.down(2)
    assert p.max_depths == {f"{mod.__name__}:down": 9}


def test_patch_and_probe_on_a_module_imported_later(make_module, backend):
    """The patcher's import hook and the probe's finder both see the import."""
    from chaoskit.hooks import patch

    name = make_module(RECURSIVE, imported=False)
    with patch(f"{name}:down", "1*return(-1)", on_import=True), probe(name, backend=backend) as p:
        mod = importlib.import_module(name)
        assert mod.down(6) == -1  # the first call fired the patch
        p.refresh()
        assert mod.down(6) == 0
    assert p.max_depths[f"{name}:down"] == 7


def test_reloaded_module_is_picked_up(make_module, backend):
    mod = make_module(RECURSIVE)
    with probe(mod.__name__, backend=backend) as p:
        old_down = mod.down
        mod = importlib.reload(mod)
        assert mod.down is not old_down
        mod.down(5)
    assert p.max_depths[f"{mod.__name__}:down"] == 6


def test_scopes_resolve_in_module_code_that_has_not_run():
    """A program about to run as __main__: module, class and function scopes name code."""
    code = compile(RECURSIVE, "prog.py", "exec")
    names = lambda scope: sorted(resolve_code(parse_scope(scope), code).values())  # noqa: E731
    assert names("__main__") == [
        "__main__:Outer.Inner.spin",
        "__main__:Outer.run",
        "__main__:down",
    ]
    assert names("__main__:Outer") == ["__main__:Outer.Inner.spin", "__main__:Outer.run"]
    assert names("__main__:Outer.Inner.spin") == ["__main__:Outer.Inner.spin"]
    with pytest.raises(ConfigError, match="has no 'nothere'"):
        resolve_code(parse_scope("__main__:nothere"), code)


def test_pending_module_scopes_are_watched_from_the_code_handed_over(backend):
    """Probe(pending_modules=...) resolves those scopes from watch_module_code, then
    measures the functions made from that code when it runs."""
    code = compile(RECURSIVE, "prog_pending.py", "exec")
    namespace: dict[str, object] = {"__name__": "prog_pending"}
    with probe("prog_pending:down", backend=backend, pending_modules={"prog_pending"}) as p:
        assert p.watched == []
        p.watch_module_code(code)
        exec(code, namespace)
        namespace["down"](9)  # type: ignore[operator]
    assert p.max_depths == {"prog_pending:down": 10}
