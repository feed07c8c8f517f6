"""chaoskit: chaos engineering, fault injection and reliability testing for Python."""

from __future__ import annotations

__version__ = "0.1.0"
