"""redirect(): connections to HOST:PORT go through a proxy without code changes."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from netchaos_helpers import Upstream, recv_exactly

from chaoskit.errors import ConfigError
from chaoskit.netchaos import ServerHandle, active_redirects, redirect
from chaoskit.netchaos.client import Client


def roundtrip(host: str, port: int) -> float:
    with socket.create_connection((host, port), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        return time.monotonic() - start


async def roundtrip_async(host: str, port: int) -> float:
    reader, writer = await asyncio.open_connection(host, port)
    start = time.monotonic()
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    elapsed = time.monotonic() - start
    writer.close()
    await writer.wait_closed()
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redirect_via_an_existing_proxy(client: Client, echo_upstream: Upstream) -> None:
    proxy = client.create("via", echo_upstream.address)
    proxy.add_toxic("latency", latency=120)
    original = socket.socket.connect
    with redirect(echo_upstream.address, proxy.listen) as r:
        assert r in active_redirects()
        assert roundtrip("127.0.0.1", echo_upstream.port) >= 0.118
        assert asyncio.run(roundtrip_async("127.0.0.1", echo_upstream.port)) >= 0.118
        assert roundtrip("localhost", echo_upstream.port) >= 0.118
    assert socket.socket.connect is original
    assert active_redirects() == []
    assert min(roundtrip("127.0.0.1", echo_upstream.port) for _ in range(3)) < 0.1


def test_redirect_creates_a_proxy_on_a_running_server(
    server: ServerHandle, client: Client, echo_upstream: Upstream
) -> None:
    with redirect(f"localhost:{echo_upstream.port}", api=server.url, name="db") as r:
        assert r.server is None  # the running server was used
        assert client.get("db").upstream == f"localhost:{echo_upstream.port}"
        client.get("db").add_toxic("latency", latency=100)
        assert roundtrip("127.0.0.1", echo_upstream.port) >= 0.098
    assert "db" not in client.proxies()


def test_redirect_starts_an_embedded_server_when_none_answers(echo_upstream: Upstream) -> None:
    api = f"http://127.0.0.1:{free_port()}"
    with redirect(echo_upstream.address, api=api) as r:
        assert r.server is not None and r.proxy is not None
        assert Client(api).running()
        r.proxy.add_toxic("latency", latency=100)
        assert roundtrip("127.0.0.1", echo_upstream.port) >= 0.098
    assert not Client(api).running()
    assert min(roundtrip("127.0.0.1", echo_upstream.port) for _ in range(3)) < 0.1


def test_other_addresses_are_not_redirected(client: Client, echo_upstream: Upstream) -> None:
    other = Upstream(lambda conn: conn.sendall(conn.recv(4)))
    try:
        proxy = client.create("only", echo_upstream.address)
        proxy.add_toxic("latency", latency=150)
        with redirect(echo_upstream.address, proxy.listen):
            assert min(roundtrip("127.0.0.1", other.port) for _ in range(3)) < 0.1
    finally:
        other.close()


def test_nested_redirects_uninstall_in_any_order(client: Client, echo_upstream: Upstream) -> None:
    original = socket.socket.connect
    a = client.create("a", echo_upstream.address)
    b = Upstream(lambda conn: conn.sendall(conn.recv(4)))
    try:
        pb = client.create("b", b.address)
        pb.add_toxic("latency", latency=100)
        first = redirect(echo_upstream.address, a.listen).start()
        second = redirect(b.address, pb.listen).start()
        first.stop()
        assert socket.socket.connect is not original
        assert roundtrip("127.0.0.1", b.port) >= 0.098
        second.stop()
        assert socket.socket.connect is original
    finally:
        b.close()


@pytest.mark.parametrize("target", ["nohost", "host:", "host:notaport", "host:70000"])
def test_bad_targets_are_config_errors(target: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        redirect(target, "127.0.0.1:1")
