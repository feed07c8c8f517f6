"""Seeded randomness.

One seed per run; each iteration draws from an RNG derived from ``(seed, iteration)`` so
that, with one worker, the same seed makes the same decisions in the same iterations.
Outside a run, :func:`global_rng` is a process-wide RNG seeded from ``CHAOSKIT_SEED``
(or randomly), so failpoints still have a reproducible source when asked for one.
"""

from __future__ import annotations

import _thread  # threading.Lock without importing threading (start-up time)
import os

from chaoskit.errors import ConfigError

# random loads on first use: `import chaoskit.rng` (the instrument wrapper's start-up) only
# needs the seed.
TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    import random

__all__ = ["derive_rng", "derive_seed", "global_rng", "new_seed", "reseed_global"]

_MASK = (1 << 63) - 1


def new_seed() -> int:
    """A fresh random seed (63 bits, fits JSON and every integer column)."""
    # as secrets.randbits(63), without importing secrets (hashlib, hmac, base64)
    return int.from_bytes(os.urandom(8), "big") >> 1


def derive_seed(seed: int, *salt: object) -> int:
    """A stable 63-bit seed derived from ``seed`` and ``salt`` (stable across processes)."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    h.update(str(seed).encode())
    for part in salt:
        h.update(b"\x00")
        h.update(str(part).encode())
    return int.from_bytes(h.digest(), "big") & _MASK


def derive_rng(seed: int, iteration: int, *salt: object) -> random.Random:
    """The RNG for one iteration of a run with ``seed``."""
    import random

    return random.Random(derive_seed(seed, iteration, *salt))


class _GlobalRNG:
    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.seed = _env_seed()
        self.rng: random.Random | None = None  # made from ``seed`` on first use


def _env_seed() -> int:
    """``CHAOSKIT_SEED`` if set (an integer, else a ConfigError), else a random seed."""
    env = os.environ.get("CHAOSKIT_SEED", "").strip()
    if not env:
        return new_seed()
    try:
        return int(env)
    except ValueError:
        raise ConfigError(
            f"CHAOSKIT_SEED must be an integer, got {env!r}", source="CHAOSKIT_SEED"
        ) from None


_GLOBAL = _GlobalRNG()


def global_rng() -> random.Random:
    """The process-wide RNG used outside a running scenario."""
    rng = _GLOBAL.rng
    if rng is None:
        import random

        with _GLOBAL.lock:
            if _GLOBAL.rng is None:
                _GLOBAL.rng = random.Random(_GLOBAL.seed)
            rng = _GLOBAL.rng
    return rng


def reseed_global(seed: int) -> None:
    """Reseed the process-wide RNG (``--seed`` of the instrument wrapper, tests)."""
    with _GLOBAL.lock:
        _GLOBAL.seed = seed
        if _GLOBAL.rng is not None:
            _GLOBAL.rng.seed(seed)


def global_seed() -> int:
    return _GLOBAL.seed
