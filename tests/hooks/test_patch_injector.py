"""injectors.patch in a scenario: applied for the run, undone after, counted in the report."""

from __future__ import annotations

import importlib

import pytest

import chaoskit as ck
from chaoskit import injectors
from chaoskit.errors import ConfigError
from chaoskit.failpoints import registry

DB = """
class Repo:
    def save(self, x):
        return "ok"

    async def load(self):
        return "loaded"
"""


@pytest.fixture
def db(modules):
    return importlib.import_module(modules.write("db", DB))


def _scenario(db, terms, seed=7):
    def step(target):
        db.Repo().save(1)

    return (
        ck.scenario("patchy")
        .step("save", step)
        .inject("patch", injectors.patch({f"{db.__name__}:Repo.save": terms}))
        .repeat(40)
        .seed(seed)
        .build()
    )


def test_patch_injector_applies_during_run_and_undoes_after(db):
    code = db.Repo.save.__code__
    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE).run(
        _scenario(db, "50%raise(ConnectionError)")
    )
    name = f"{db.__name__}:Repo.save"
    assert 0 < len(report.failures) < 40
    assert all("ConnectionError" in str(f.error) for f in report.failures)
    assert report.failpoints[name] == {"hits": 40, "fired": len(report.failures)}
    assert db.Repo.save.__code__ is code and not registry.is_active(name)


def test_same_seed_same_failures(db):
    runs = [
        ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE).run(_scenario(db, "30%raise(OSError)"))
        for _ in range(2)
    ]
    assert [f.iteration for f in runs[0].failures] == [f.iteration for f in runs[1].failures]


def test_async_step_with_patched_coroutine(db):
    async def step(target):
        assert await db.Repo().load() == "chaos"

    scenario = (
        ck.scenario("async-patch")
        .step("load", step)
        .inject("p", injectors.patch({f"{db.__name__}:Repo.load": "return('chaos')"}))
        .repeat(3)
        .build()
    )
    report = ck.run(scenario)
    assert report.passed


def test_bad_target_or_terms_fail_at_construction():
    with pytest.raises(ConfigError, match="nocolon"):
        injectors.patch({"nocolon": "return(1)"})
    with pytest.raises(ConfigError, match="x:y"):
        injectors.patch({"x:y": "bogus(("})
    with pytest.raises(ConfigError):
        injectors.patch({})


def test_missing_module_fails_the_start_and_leaves_nothing_applied(db):
    code = db.Repo.save.__code__
    inj = injectors.patch(
        {f"{db.__name__}:Repo.save": "return(1)", "ckt_missing_mod_q:f": "return(1)"}
    )
    scenario = ck.scenario("bad").step("s", lambda t: None).inject("p", inj).repeat(1).build()
    with pytest.raises((ConfigError, ck.ScenarioFailed)):
        ck.run(scenario)
    assert db.Repo.save.__code__ is code
