"""Resource injectors: real CPU load (processes, so the GIL cannot hide it) and memory."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

from chaoskit.context import RunContext
from chaoskit.errors import ConfigError
from chaoskit.injectors.base import BaseInjector
from chaoskit.units import parse_duration, parse_size

__all__ = ["CpuStress", "MemoryPressure", "cpu_stress", "memory_pressure"]

# Busy-loop with a duty cycle: `load` of every 100 ms period is spent spinning.
_BURNER = """
import sys, time
load = float(sys.argv[1]); until = float(sys.argv[2])
period = 0.1
while until <= 0 or time.monotonic() < until:
    start = time.monotonic()
    while time.monotonic() - start < period * load:
        pass
    rest = period * (1.0 - load)
    if rest > 0:
        time.sleep(rest)
"""


class CpuStress(BaseInjector):
    """Runs ``workers`` busy processes at ``load`` (0-1] for the run (or ``duration``)."""

    kind = "cpu_stress"

    def __init__(
        self, workers: int = 1, duration: float | str | None = None, load: float = 1.0
    ) -> None:
        super().__init__()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            self._config_errors.append(
                ConfigError(f"cpu_stress workers must be an integer >= 1, got {workers!r}")
            )
            workers = 1
        if isinstance(load, bool) or not isinstance(load, (int, float)) or not 0 < load <= 1:
            self._config_errors.append(
                ConfigError(f"cpu_stress load must be in (0, 1], got {load!r}")
            )
            load = 1.0
        self.workers = workers
        self.load = float(load)
        self.duration = (
            self._arg(lambda: parse_duration(duration, what="cpu_stress duration"), None)
            if duration is not None
            else None
        )
        self._procs: list[subprocess.Popen[bytes]] = []
        self.pids: list[int] = []

    def start(self, ctx: RunContext) -> None:
        import time

        until = time.monotonic() + self.duration if self.duration else 0.0
        # time.monotonic is system-wide on Linux, so the child can compare against it.
        for _ in range(self.workers):
            proc = subprocess.Popen(
                [sys.executable, "-c", _BURNER, str(self.load), repr(until)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self._procs.append(proc)
            self.pids.append(proc.pid)
        super().start(ctx)
        self.emit(ctx, "cpu_stress", value=float(self.workers), detail=f"load={self.load}")

    def stop(self, ctx: RunContext) -> None:
        super().stop(ctx)
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def metrics(self) -> dict[str, Any]:
        return {**super().metrics(), "workers": self.workers, "load": self.load}


class MemoryPressure(BaseInjector):
    """Holds ``size`` bytes of touched memory for the run (released at stop)."""

    kind = "memory_pressure"

    def __init__(self, size: int | str, chunk: int | str = "1MiB") -> None:
        super().__init__()
        self.size = self._arg(lambda: parse_size(size, what="memory_pressure size"), 0)
        self.chunk = max(
            4096, self._arg(lambda: parse_size(chunk, what="memory_pressure chunk"), 1 << 20)
        )
        self._blocks: list[bytearray] = []
        self._lock = threading.Lock()

    def start(self, ctx: RunContext) -> None:
        remaining = self.size
        with self._lock:
            while remaining > 0:
                n = min(self.chunk, remaining)
                block = bytearray(n)
                for off in range(0, n, 4096):  # touch each page so it counts in RSS
                    block[off] = 1
                self._blocks.append(block)
                remaining -= n
        super().start(ctx)
        self.emit(ctx, "memory_pressure", value=float(self.size))

    @property
    def held(self) -> int:
        return sum(len(b) for b in self._blocks)

    def stop(self, ctx: RunContext) -> None:
        super().stop(ctx)
        with self._lock:
            self._blocks.clear()

    def metrics(self) -> dict[str, Any]:
        return {**super().metrics(), "bytes": self.size}


def cpu_stress(
    workers: int = 1, duration: float | str | None = None, load: float = 1.0
) -> CpuStress:
    """Real CPU load in ``workers`` processes (Go: CPUInjector)."""
    return CpuStress(workers, duration, load)


def memory_pressure(size: int | str, chunk: int | str = "1MiB") -> MemoryPressure:
    """Allocate and hold ``size`` bytes (``"256MB"``) for the run (Go: MemoryInjector)."""
    return MemoryPressure(size, chunk)
