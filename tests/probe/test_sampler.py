"""The optional sampler: finds recursing code outside declared scopes and promotes it."""

from __future__ import annotations

import threading
import time

import pytest

from chaoskit.errors import ConfigError
from chaoskit.hooks.probe import probe
from chaoskit.hooks.sampler import Sampler

SOURCE = """
def dive(n, hold=None):
    if n == 0:
        if hold is not None:
            hold.wait(timeout=30)
        return 0
    return 1 + dive(n - 1, hold)

def unrelated():
    return 1
"""


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_sampler_finds_recursion_in_another_thread(make_module):
    mod = make_module(SOURCE)
    hold = threading.Event()
    t = threading.Thread(target=mod.dive, args=(60, hold), daemon=True)
    t.start()
    with Sampler(interval=0.01, threshold=20) as sampler:
        found = _wait_for(lambda: sampler.depths.get(f"{mod.__name__}:dive", 0) >= 61)
    hold.set()
    t.join()
    assert found, sampler.depths
    assert sampler.samples > 0


def test_sampler_ignores_shallow_stacks(make_module):
    mod = make_module(SOURCE)
    hold = threading.Event()
    t = threading.Thread(target=mod.dive, args=(5, hold), daemon=True)
    t.start()
    sampler = Sampler(threshold=20)
    try:
        assert _wait_for(lambda: sampler.sample() == {} and sampler.samples >= 3)
    finally:
        hold.set()
        t.join()
    assert sampler.depths == {}


def test_probe_promotes_sampled_recursion_to_exact_measurement(make_module, backend):
    mod = make_module(SOURCE)
    other = make_module("def idle():\n    return 0\n")
    hold = threading.Event()
    with probe(
        other.__name__, sampling=True, sample_interval=0.01, sample_threshold=20, backend=backend
    ) as p:
        t = threading.Thread(target=mod.dive, args=(40, hold), daemon=True)
        t.start()
        found = _wait_for(lambda: f"{mod.__name__}:dive" in p.watched)
        hold.set()
        t.join()
        mod.dive(30)  # now measured exactly, in this thread
    assert found
    assert p.sampled_depths[f"{mod.__name__}:dive"] == 41
    assert p.max_depths[f"{mod.__name__}:dive"] == 31
    assert f"{mod.__name__}:unrelated" not in p.max_depths


@pytest.mark.parametrize(("interval", "threshold"), [(0, 20), (-1, 20), (0.05, 1), (0.05, "x")])
def test_bad_sampler_settings_are_config_errors(interval, threshold):
    with pytest.raises(ConfigError):
        probe(sampling=True, sample_interval=interval, sample_threshold=threshold)
