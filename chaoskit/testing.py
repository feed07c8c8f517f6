"""Test helpers that users of chaoskit need too.

- :class:`EventCapture`: collects a run's events (pass it in ``Executor(subscribers=[...])``).
- :class:`EchoServer`: a real TCP echo server on loopback, in a thread, as a context manager.
- :class:`FakeClock`: a monotonic clock that only moves when told to.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from chaoskit.events import Event, EventBus

__all__ = ["EchoServer", "EventCapture", "FakeClock"]

E = TypeVar("E", bound=Event)


class EventCapture:
    """Collects every event of the runs it is attached to."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, bus: EventBus) -> None:
        self._unsubscribe = bus.subscribe(self._on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        """The captured events of one type, in order."""
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]


class EchoServer:
    """A TCP server on 127.0.0.1 that echoes every byte back, one thread per connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.create_server((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, name="chaoskit-echo", daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            t = threading.Thread(
                target=self._echo, args=(conn,), name="chaoskit-echo-conn", daemon=True
            )
            t.start()
            self._threads.append(t)

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        # shutdown wakes the thread blocked in accept() (closing alone does not on Linux)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(timeout=2)
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FakeClock:
    """A clock for tests: ``clock()`` returns the time, ``advance(s)`` moves it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
