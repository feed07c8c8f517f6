"""Helpers for the netchaos tests: real TCP upstreams and socket utilities."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from chaoskit.netchaos.client import ProxyInfo


class Upstream:
    """A threaded TCP server on loopback; ``handler(conn)`` runs per accepted socket."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.handler = handler
        self.conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        # close() alone does not wake the thread blocked in accept(): shut the socket down
        # first, so that no test leaves its accept thread behind for the next ones to count.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
        self._thread.join(5)


def echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class Sink:
    """Records what each connection sent, with the arrival time of every read."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.eof = threading.Event()
        self.data_event = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        while True:
            data = conn.recv(65536)
            if not data:
                self.eof.set()
                return
            self.received.append((time.monotonic(), data))
            self.data_event.set()

    @property
    def data(self) -> bytes:
        return b"".join(d for _, d in self.received)

    def wait_for(self, size: int, timeout: float = 10.0) -> float:
        """Wait until ``size`` bytes arrived; the monotonic time of the last one."""
        deadline = time.monotonic() + timeout
        while len(self.data) < size:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.data)} of {size} bytes arrived")
            time.sleep(0.001)
        return self.received[-1][0]


def connect(proxy: ProxyInfo, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        data = sock.recv(min(1 << 20, size - got))
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def recv_all(sock: socket.socket) -> bytes:
    parts: list[bytes] = []
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return b"".join(parts)
        parts.append(data)
