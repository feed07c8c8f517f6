"""Validators: the invariants a scenario checks (Go's ``validators`` package)."""

from __future__ import annotations

from chaoskit.validators.base import BaseValidator, Validator
from chaoskit.validators.composite import composite
from chaoskit.validators.hang import no_infinite_loop
from chaoskit.validators.memory import memory_limit
from chaoskit.validators.panics import panic_recovery
from chaoskit.validators.recursion import recursion_depth_limit
from chaoskit.validators.state import state_consistency
from chaoskit.validators.threads import no_task_leak, no_thread_leak, thread_limit
from chaoskit.validators.timing import execution_time, slow_iteration

__all__ = [
    "BaseValidator",
    "Validator",
    "composite",
    "execution_time",
    "memory_limit",
    "no_infinite_loop",
    "no_task_leak",
    "no_thread_leak",
    "panic_recovery",
    "recursion_depth_limit",
    "slow_iteration",
    "state_consistency",
    "thread_limit",
]
