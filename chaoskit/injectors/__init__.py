"""Injectors: the chaos a scenario introduces (Go's ``injectors`` package).

Context chaos (consulted by ``ck.maybe_*``): :func:`random_delay`, :func:`interval_delay`,
:func:`panic_probability`, :func:`error_probability`. Resources: :func:`cpu_stress`,
:func:`memory_pressure`. Mechanisms: :func:`failpoints`, :func:`patch`, and the network
injectors (``proxy_latency`` and friends). :func:`composite` combines them.
"""

from __future__ import annotations

import importlib
from typing import Any

from chaoskit.injectors.base import BaseInjector, Injector
from chaoskit.injectors.composite import composite
from chaoskit.injectors.delay import interval_delay, random_delay
from chaoskit.injectors.faults import error_probability, panic_probability
from chaoskit.injectors.stress import cpu_stress, memory_pressure

__all__ = [
    "BaseInjector",
    "Injector",
    "composite",
    "cpu_stress",
    "error_probability",
    "failpoints",
    "interval_delay",
    "memory_pressure",
    "network_chaos",
    "panic_probability",
    "patch",
    "proxy_bandwidth",
    "proxy_down",
    "proxy_latency",
    "proxy_reset_peer",
    "proxy_slicer",
    "proxy_timeout",
    "random_delay",
]

# Injectors backed by heavier mechanisms are imported on first use.
_LAZY = {
    "failpoints": "chaoskit.injectors.failpoints",
    "patch": "chaoskit.injectors.patch",
    "network_chaos": "chaoskit.injectors.network",
    "proxy_latency": "chaoskit.injectors.network",
    "proxy_bandwidth": "chaoskit.injectors.network",
    "proxy_timeout": "chaoskit.injectors.network",
    "proxy_slicer": "chaoskit.injectors.network",
    "proxy_down": "chaoskit.injectors.network",
    "proxy_reset_peer": "chaoskit.injectors.network",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chaoskit.injectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
