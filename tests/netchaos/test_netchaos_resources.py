"""The proxy process releases every socket on every way a connection can end (no fd leak)."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from netchaos_helpers import Upstream, connect, recv_all, recv_exactly

from chaoskit.netchaos.client import Client, ProxyInfo

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="counts POSIX fds")

ROUNDS = 40


@contextlib.contextmanager
def _proxy_process(
    preexec: Callable[[], None] | None = None,
) -> Iterator[tuple[Client, psutil.Process]]:
    """The proxy in its own process, as ``chaoskit proxy`` runs, so its fds are its own."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit.netchaos", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=preexec,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        match = re.search(r"API on (http://\S+)", proc.stdout.readline())
        assert match
        yield Client(match.group(1)), psutil.Process(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


@pytest.fixture
def proxy_process() -> Iterator[tuple[Client, psutil.Process]]:
    with _proxy_process() as running:
        yield running


def _echo_and_close(proxy: ProxyInfo) -> None:
    with connect(proxy, timeout=5) as sock:
        sock.sendall(b"x" * 100_000)
        assert recv_exactly(sock, 100_000) == b"x" * 100_000


def _half_close(proxy: ProxyInfo) -> None:
    with connect(proxy, timeout=5) as sock:
        sock.sendall(b"abc")
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b"abc"


def _client_reset(proxy: ProxyInfo) -> None:
    sock = connect(proxy, timeout=5)
    sock.sendall(b"y" * 300_000)  # leaves data in flight in the proxy
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _abandon_unread(proxy: ProxyInfo) -> None:
    """The client sends a lot, never reads the echo back, and closes."""
    with connect(proxy, timeout=5) as sock:
        sock.setblocking(False)
        try:
            for _ in range(64):
                sock.send(b"z" * 65536)
        except BlockingIOError:
            pass


WAYS: dict[str, Callable[[ProxyInfo], None]] = {
    "echo": _echo_and_close,
    "half_close": _half_close,
    "client_reset": _client_reset,
    "abandon_unread": _abandon_unread,
}


def _open_fds(ps: psutil.Process) -> int:
    return int(ps.num_fds())


def _wait_for_fds(ps: psutil.Process, at_most: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := _open_fds(ps)) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


@pytest.mark.parametrize(
    "toxic", [None, {"type": "noop"}, {"type": "latency", "latency": 1}], ids=str
)
def test_connections_release_every_fd_with_and_without_toxics(
    proxy_process: tuple[Client, psutil.Process],
    echo_upstream: Upstream,
    toxic: dict[str, Any] | None,
) -> None:
    """Both data paths: the direct one (no toxics) and the staged one (a toxic on each link)."""
    client, ps = proxy_process
    proxy = client.create("echo", echo_upstream.address)
    for stream in ("upstream", "downstream") if toxic else ():
        proxy.add_toxic(stream=stream, **(toxic or {}))
    _echo_and_close(proxy)
    baseline = _wait_for_fds(ps, 0, timeout=0.5)
    for _ in range(ROUNDS):
        for way in WAYS.values():
            way(proxy)
    assert _wait_for_fds(ps, baseline) <= baseline


def test_connections_cut_by_toxics_release_every_fd(
    proxy_process: tuple[Client, psutil.Process], echo_upstream: Upstream
) -> None:
    """limit_data and timeout close, reset_peer resets, a down proxy drops its connections."""
    client, ps = proxy_process
    limited = client.create("limited", echo_upstream.address)
    limited.add_toxic("limit_data", stream="downstream", bytes=10)
    reset = client.create("reset", echo_upstream.address)
    reset.add_toxic("reset_peer", stream="upstream", timeout=0)
    timed = client.create("timed", echo_upstream.address)
    timed.add_toxic("timeout", stream="upstream", timeout=20)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: the dial fails
    unreachable = client.create("unreachable", f"127.0.0.1:{dead.getsockname()[1]}")
    plain = client.create("plain", echo_upstream.address)
    baseline = _wait_for_fds(ps, 0, timeout=0.5)
    try:
        for _ in range(ROUNDS // 2):
            for proxy in (limited, reset, timed, unreachable):
                with connect(proxy, timeout=5) as sock:
                    sock.sendall(b"hello world, hello world")
                    with contextlib.suppress(ConnectionResetError):
                        recv_all(sock)
        held = [connect(plain, timeout=5) for _ in range(20)]
        for sock in held:
            sock.sendall(b"x")
            assert recv_exactly(sock, 1) == b"x"
        plain.disable()
        for sock in held:
            sock.close()
        plain.enable()
    finally:
        dead.close()
    assert _wait_for_fds(ps, baseline) <= baseline


def test_proxy_process_raises_a_low_soft_fd_limit(echo_upstream: Upstream) -> None:
    """Started with a soft limit of 256 fds, ``chaoskit proxy`` still holds 300 connections."""
    resource = pytest.importorskip("resource")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip("the hard fd limit is too low to raise")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    with _proxy_process(low_soft_limit) as (client, _):
        proxy = client.create("many", echo_upstream.address)
        held = [connect(proxy, timeout=5) for _ in range(300)]
        try:
            for sock in held:
                sock.sendall(b"ping")
            assert all(recv_exactly(sock, 4) == b"ping" for sock in held)
        finally:
            for sock in held:
                sock.close()
