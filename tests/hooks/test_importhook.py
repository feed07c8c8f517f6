"""The import hook: one finder first in sys.meta_path, proxying the real loader."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import sys

import pytest

from chaoskit.hooks.importhook import hook, when_imported


def test_callback_runs_after_module_body_with_the_module(modules, meta_path_guard):
    name = modules.write("a", "X = 1\ndef f():\n    return X\n")
    seen = []
    with when_imported(name, lambda m: seen.append((m, m.f()))):
        assert sys.meta_path[0] is hook
        mod = importlib.import_module(name)
    assert seen == [(mod, 1)]


def test_removing_the_last_watch_restores_meta_path(modules, meta_path_guard):
    before = meta_path_guard()
    w1 = when_imported(modules.write("b1", ""), lambda m: None)
    w2 = when_imported(modules.write("b2", ""), lambda m: None)
    assert sys.meta_path[0] is hook and sys.meta_path[1:] == before
    w1.cancel()
    assert sys.meta_path[0] is hook
    w2.cancel()
    assert sys.meta_path == before


def test_module_sees_its_real_loader_during_and_after_import(modules, meta_path_guard):
    name = modules.write(
        "c",
        "LOADER_TYPE = type(__loader__).__name__\nSPEC_LOADER = type(__spec__.loader).__name__\n",
    )
    with when_imported(name, lambda m: None):
        mod = importlib.import_module(name)
    assert mod.LOADER_TYPE == "SourceFileLoader" == mod.SPEC_LOADER
    assert isinstance(mod.__loader__, importlib.machinery.SourceFileLoader)
    assert mod.__spec__.loader is mod.__loader__


def test_unwatched_modules_are_not_touched(modules, meta_path_guard):
    watched = modules.write("d1", "")
    other = modules.write("d2", "")
    with when_imported(watched, lambda m: None):
        assert hook.find_spec(other, None) is None
        mod = importlib.import_module(other)
    assert type(mod.__loader__) is importlib.machinery.SourceFileLoader


def test_failing_callback_is_logged_and_import_succeeds(modules, meta_path_guard, caplog):
    name = modules.write("e", "V = 5\n")

    def boom(m):
        raise RuntimeError("callback failed")

    with caplog.at_level(logging.ERROR, logger="chaoskit.hooks"), when_imported(name, boom):
        mod = importlib.import_module(name)
    assert mod.V == 5
    assert "callback failed" in caplog.text


def test_failing_module_body_propagates_and_skips_callbacks(modules, meta_path_guard):
    name = modules.write("f", "raise KeyError('from body')\n")
    seen = []
    with when_imported(name, seen.append), pytest.raises(KeyError, match="from body"):
        importlib.import_module(name)
    assert seen == []
    assert name not in sys.modules


def test_reload_runs_callbacks_again_on_new_objects(modules, meta_path_guard):
    name = modules.write("g", "def f():\n    return 1\n")
    seen = []
    with when_imported(name, lambda m: seen.append(m.f)):
        mod = importlib.import_module(name)
        first = mod.f
        importlib.reload(mod)
    assert len(seen) == 2 and seen[0] is first and seen[1] is mod.f and mod.f is not first
    assert isinstance(mod.__loader__, importlib.machinery.SourceFileLoader)


def test_now_fires_immediately_for_imported_module(modules, meta_path_guard):
    name = modules.write("h", "")
    mod = importlib.import_module(name)
    seen = []
    with when_imported(name, seen.append) as w:
        assert seen == [mod] and w.fired == 1
    with when_imported(name, seen.append, now=False):
        pass
    assert seen == [mod]


def test_namespace_package_imports_like_without_the_hook(modules, meta_path_guard):
    plain = importlib.import_module(modules.namespace("ns_plain"))
    name = modules.namespace("ns_hooked")
    seen = []
    with when_imported(name, seen.append):
        mod = importlib.import_module(name)
    assert seen == [mod]
    assert type(mod.__loader__) is type(plain.__loader__)
    assert mod.__spec__.loader is mod.__loader__
    assert mod.__file__ is None and plain.__file__ is None
    assert list(mod.__path__) == [str(modules.root / name)]


def test_submodule_of_namespace_package_is_hooked(modules, meta_path_guard):
    pkg = modules.namespace("ns_sub")
    (modules.root / pkg / "leaf.py").write_text("Y = 2\n")
    importlib.invalidate_caches()
    seen = []
    with when_imported(f"{pkg}.leaf", lambda m: seen.append(m.Y)):
        importlib.import_module(f"{pkg}.leaf")
    assert seen == [2]


def test_lazy_loader_fires_on_first_attribute_access(modules, meta_path_guard):
    name = modules.write("lazy", "Z = 3\n")
    seen = []
    with when_imported(name, lambda m: seen.append(m.Z)):
        spec = importlib.util.find_spec(name)
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader.exec_module(module)
        assert seen == []
        assert module.Z == 3
    assert seen == [3]


def test_callback_may_import_and_watch_other_modules(modules, meta_path_guard):
    first = modules.write("i1", "")
    second = modules.write("i2", "W = 1\n")
    seen = []

    def chain(m):
        w = when_imported(second, lambda m2: seen.append(m2.W))
        importlib.import_module(second)
        w.cancel()

    with when_imported(first, chain):
        importlib.import_module(first)
    assert seen == [1]


def test_transform_rewrites_code_before_the_body_runs(modules, meta_path_guard):
    name = modules.write("tr", "VALUE = 1\n")

    def transform(code):
        return compile("VALUE = 2\n", code.co_filename, "exec")

    with when_imported(name, lambda m: None, transform=transform):
        mod = importlib.import_module(name)
    assert mod.VALUE == 2
    assert isinstance(mod.__loader__, importlib.machinery.SourceFileLoader)


def test_failing_transform_is_logged_and_original_code_runs(modules, meta_path_guard, caplog):
    name = modules.write("tr2", "VALUE = 1\n")

    def transform(code):
        raise RuntimeError("transform broke")

    with (
        caplog.at_level(logging.ERROR, logger="chaoskit.hooks"),
        when_imported(name, lambda m: None, transform=transform),
    ):
        mod = importlib.import_module(name)
    assert mod.VALUE == 1 and "transform broke" in caplog.text


def test_concurrent_imports_of_watched_modules_each_fire_once(modules, meta_path_guard):
    import threading

    names = [
        modules.write(f"conc{i}", f"import time\ntime.sleep(0.01)\nN = {i}\n") for i in range(8)
    ]
    seen = []
    lock = threading.Lock()

    def record(m):
        with lock:
            seen.append(m.N)

    watches = [when_imported(n, record) for n in names]
    barrier = threading.Barrier(len(names))

    def worker(name):
        barrier.wait()
        importlib.import_module(name)

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for w in watches:
        w.cancel()
    assert sorted(seen) == list(range(8))
