"""A stack sampler that finds recursing code anywhere, at a negligible cost.

Every ``interval`` seconds a daemon thread reads every other thread's stack through
``sys._current_frames()`` and counts the frames of each code object. A code object with
``threshold`` or more frames on one stack is recursing: the sampler remembers the deepest
sample (``Sampler.depths``) and, when it runs inside a probe (``probe(sampling=True)``),
hands the code to the probe, which measures it exactly from then on.

Sampling sees a stack every ``interval``, so its depths are lower bounds: short bursts of
recursion between two samples are missed. chaoskit's own code is never reported.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable, Container, Iterable
from pathlib import Path

from chaoskit.errors import ConfigError
from chaoskit.hooks.probe_scope import code_name
from chaoskit.hooks.probe_state import log as _log

__all__ = ["Sampler"]

_OWN_DIR = str(Path(__file__).resolve().parent.parent)


class Sampler:
    """Samples thread stacks; reports and optionally promotes recursing code objects.

    ``exclude`` holds ``id()`` s of code objects already measured exactly.
    """

    def __init__(
        self,
        *,
        interval: float = 0.05,
        threshold: int = 20,
        on_recursion: Callable[[Iterable[types.CodeType]], None] | None = None,
        exclude: Container[int] = (),
    ) -> None:
        if not isinstance(interval, (int, float)) or interval <= 0:
            raise ConfigError(
                "sampler interval must be a positive number of seconds", text=repr(interval)
            )
        if not isinstance(threshold, int) or threshold < 2:
            raise ConfigError("sampler threshold must be an integer >= 2", text=repr(threshold))
        self.interval = float(interval)
        self.threshold = threshold
        self._on_recursion = on_recursion
        self._exclude = exclude
        self._promoted: set[types.CodeType] = set()
        self._depths: dict[types.CodeType, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Sampler:
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="chaoskit-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- sampling -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception as exc:
                _log.error("sampler disabled after an internal error", error=repr(exc))
                return

    def sample(self) -> dict[types.CodeType, int]:
        """Take one sample now; returns the recursing code objects found and their depths."""
        me = threading.get_ident()
        found: dict[types.CodeType, int] = {}
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            counts: dict[types.CodeType, int] = {}
            current: types.FrameType | None = frame
            while current is not None:
                code = current.f_code
                counts[code] = counts.get(code, 0) + 1
                current = current.f_back
            for code, count in counts.items():
                if (
                    count >= self.threshold
                    and count > found.get(code, 0)
                    and not code.co_filename.startswith(_OWN_DIR)
                ):
                    found[code] = count
        self.samples += 1
        if not found:
            return found
        new: list[types.CodeType] = []
        with self._lock:
            for code, count in found.items():
                if count > self._depths.get(code, 0):
                    self._depths[code] = count
                if code not in self._promoted and id(code) not in self._exclude:
                    self._promoted.add(code)
                    new.append(code)
        if new:
            _log.info("sampler found recursing code", functions=[code_name(c) for c in new])
            if self._on_recursion is not None:
                self._on_recursion(new)
        return found

    @property
    def depths(self) -> dict[str, int]:
        """``{"module:qualname": deepest sampled depth}`` for code found recursing."""
        with self._lock:
            return {code_name(code): depth for code, depth in self._depths.items()}
