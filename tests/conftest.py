"""Suite-wide settings: keep chaoskit quiet and deterministic in tests."""

from __future__ import annotations

import os

os.environ.setdefault("CHAOSKIT_SEED", "12345")
