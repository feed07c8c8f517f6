"""Progress of a long run: a live display on a terminal, periodic log lines elsewhere.

:class:`Progress` subscribes to the bus and counts finished iterations. On a TTY it draws a
``rich`` live panel (iterations/s, success rate, failures by kind, elapsed and remaining
time); otherwise it logs one structlog line every ``interval`` seconds and a last one at
:meth:`close`. Usable as a context manager.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import IO, Any, TextIO, cast

import structlog

from chaoskit.events import Event, EventBus, IterationFinished, RunStarted

__all__ = ["Progress", "ProgressState"]


def _stream_logger(stream: IO[str]) -> Any:
    """A structlog logger writing plain lines to ``stream`` (stderr: stdout is the report's)."""
    return structlog.wrap_logger(
        structlog.PrintLogger(file=cast(TextIO, stream)),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        logger_name="chaoskit.progress",
    )


class ProgressState:
    """The counters behind the display (thread-safe; also useful in tests)."""

    def __init__(self, total: int | None, run_for: float | None) -> None:
        self.total = total
        self.run_for = run_for
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0
        self.kinds: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, ev: IterationFinished) -> None:
        with self._lock:
            self.done += 1
            if not ev.ok:
                self.failed += 1
                self.kinds[ev.error_type or ("validator" if ev.step is None else "error")] += 1

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def success_rate(self) -> float:
        return (self.done - self.failed) / self.done if self.done else 1.0

    @property
    def remaining(self) -> float | None:
        """Seconds left: from the iteration rate (repeat) or the clock (run_for)."""
        if self.run_for is not None:
            return max(self.run_for - self.elapsed, 0.0)
        if self.total is not None and self.done:
            return max(self.total - self.done, 0) / max(self.rate, 1e-9)
        return None

    def top_kinds(self, n: int = 3) -> list[tuple[str, int]]:
        with self._lock:
            return self.kinds.most_common(n)

    def fields(self) -> dict[str, Any]:
        rem = self.remaining
        return {
            "iterations": self.done,
            "total": self.total,
            "failed": self.failed,
            "per_second": round(self.rate, 1),
            "success_rate": round(self.success_rate, 4),
            "elapsed": round(self.elapsed, 1),
            "remaining": None if rem is None else round(rem, 1),
            "failures_by_kind": dict(self.top_kinds()),
        }


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Shows a run's progress; ``live`` forces the TTY display on or off."""

    def __init__(
        self,
        scenario: str,
        total: int | None,
        run_for: float | None,
        stream: IO[str] | None = None,
        *,
        interval: float = 10.0,
        live: bool | None = None,
        log: Callable[..., Any] | None = None,
    ) -> None:
        self.scenario = scenario
        self.stream = stream if stream is not None else sys.stderr
        self.state = ProgressState(total, run_for)
        self.interval = interval
        isatty = getattr(self.stream, "isatty", None)
        self.live = live if live is not None else bool(isatty and isatty())
        self._log = log if log is not None else _stream_logger(self.stream).info
        self._last_log = time.monotonic()
        self._unsubscribe: Callable[[], None] | None = None
        self._live: Any = None
        self._closed = False

    # --- wiring -----------------------------------------------------------------------

    def attach(self, bus: EventBus) -> Progress:
        self._unsubscribe = bus.subscribe(self.on_event, (IterationFinished, RunStarted))
        if self.live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._live = Live(self, console=console, refresh_per_second=4, transient=False)
            self._live.start()
        return self

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, RunStarted):
            self.state.started = time.monotonic()
            return
        if isinstance(ev, IterationFinished):
            self.state.record(ev)
            if not self.live:
                now = time.monotonic()
                if now - self._last_log >= self.interval:
                    self._last_log = now
                    self._log("progress", scenario=self.scenario, **self.state.fields())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self.state.done:
            self._log("progress", scenario=self.scenario, final=True, **self.state.fields())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the live display (rich calls __rich__ on each refresh) ------------------------

    def line(self) -> str:
        """The status as one plain line (also what the live panel shows)."""
        s = self.state
        total = f"/{s.total}" if s.total is not None else ""
        pct = f" {s.done / s.total:.0%}" if s.total else ""
        kinds = ", ".join(f"{k} {n}" for k, n in s.top_kinds()) or "none"
        return (
            f"{self.scenario}: {s.done}{total}{pct}  {s.rate:.1f} it/s  "
            f"success {s.success_rate:.1%}  failures: {kinds}  "
            f"elapsed {_clock(s.elapsed)}  remaining {_clock(s.remaining)}"
        )

    def __rich__(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        s = self.state
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        if s.total:
            bar: Any = ProgressBar(total=s.total, completed=s.done, width=40)
        elif s.run_for:
            bar = ProgressBar(total=s.run_for, completed=min(s.elapsed, s.run_for), width=40)
        else:
            bar = ""
        table.add_row(f"chaoskit {self.scenario}", bar)
        table.add_row("iterations", f"{s.done}" + (f" / {s.total}" if s.total else ""))
        table.add_row("rate", f"{s.rate:.1f} it/s")
        color = "green" if s.failed == 0 else "yellow" if s.success_rate >= 0.95 else "red"
        table.add_row("success", f"[{color}]{s.success_rate:.2%}[/] ({s.failed} failed)")
        kinds = ", ".join(f"{k} x{n}" for k, n in s.top_kinds()) or "none"
        table.add_row("failures", kinds)
        table.add_row("time", f"{_clock(s.elapsed)} elapsed, {_clock(s.remaining)} remaining")
        return table
