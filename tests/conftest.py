"""Suite-wide settings: keep chaoskit quiet and deterministic in tests."""

from __future__ import annotations

import os

os.environ.setdefault("CHAOSKIT_SEED", "12345")

# pytester drives the pytest plugin's own tests (must be declared in the top conftest).
pytest_plugins = ["pytester"]
