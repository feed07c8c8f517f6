"""Failpoints: named places in code where faults can be switched on at run time.

``@failpoint("name")`` and ``failpoint.inject("name")`` mark the places; terms in the
language of ``specs/failpoints.md`` (a superset of fail-rs, pingcap/failpoint and gofail)
switch them on through the API, ``CHAOSKIT_FAILPOINTS``, ``CHAOSKIT_FAILPOINTS_FILE``, the
HTTP endpoint (``CHAOSKIT_FAILPOINTS_HTTP``) or a scenario's ``injectors.failpoints``.

Importing this package reads the environment (see :mod:`chaoskit.failpoints.sources`).
"""

from __future__ import annotations

from chaoskit.failpoints.decorator import FailpointNamespace, failpoint
from chaoskit.failpoints.registry import (
    NO_VALUE,
    FailpointStatus,
    Scope,
    TermStatus,
    disable,
    enable,
    enabled,
    evaluate,
    evaluate_async,
    inject,
    inject_async,
    is_active,
    scope,
    status,
    wait_until_hit,
    watch,
)
from chaoskit.failpoints.terms import Duration, Term, Terms, parse_entries, parse_terms

__all__ = [
    "NO_VALUE",
    "Duration",
    "FailpointNamespace",
    "FailpointStatus",
    "Scope",
    "Term",
    "TermStatus",
    "Terms",
    "disable",
    "enable",
    "enabled",
    "evaluate",
    "evaluate_async",
    "failpoint",
    "inject",
    "inject_async",
    "is_active",
    "parse_entries",
    "parse_terms",
    "scope",
    "status",
    "wait_until_hit",
    "watch",
]

from chaoskit.failpoints import sources as _sources

_sources.load_environment()
