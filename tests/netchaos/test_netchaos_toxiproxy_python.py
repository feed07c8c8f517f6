"""The published ``toxiproxy-python`` 0.1.1 client drives the embedded server unchanged."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import toxiproxy
from netchaos_helpers import Upstream, recv_all, recv_exactly
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import NotFound, ProxyExists

from chaoskit.netchaos import ServerHandle


@pytest.fixture
def tp(server: ServerHandle) -> Iterator[toxiproxy.Toxiproxy]:
    saved = (APIConsumer.host, APIConsumer.port)
    server_api = toxiproxy.Toxiproxy()
    server_api.update_api_consumer(server.host, server.port)
    yield server_api
    APIConsumer.host, APIConsumer.port = saved


def _roundtrip(listen: str, payload: bytes = b"ping") -> float:
    host, port = listen.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        return time.monotonic() - start


def test_create_add_and_remove_toxics(tp: toxiproxy.Toxiproxy, echo_upstream: Upstream) -> None:
    assert tp.running() is True
    assert b"version" in tp.version()
    proxy = tp.create(upstream=echo_upstream.address, name="py")
    assert proxy.listen.startswith("127.0.0.1:") and proxy.enabled is True
    with pytest.raises(ProxyExists):
        tp.create(upstream=echo_upstream.address, name="py")
    assert min(_roundtrip(proxy.listen) for _ in range(3)) < 0.1

    proxy.add_toxic(type="latency", attributes={"latency": 200.0, "jitter": 0.0})
    assert set(proxy.toxics()) == {"latency_downstream"}
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic.attributes["latency"] == 200 and toxic.stream == "downstream"
    assert _roundtrip(proxy.listen) >= 0.198

    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    assert min(_roundtrip(proxy.listen) for _ in range(3)) < 0.1
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")


def test_down_context_cuts_and_restores(tp: toxiproxy.Toxiproxy, echo_upstream: Upstream) -> None:
    proxy = tp.create(upstream=echo_upstream.address, name="py-down")
    host, port = proxy.listen.split(":")
    with proxy.down():
        assert tp.get_proxy("py-down").enabled is False
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=2)
    assert _roundtrip(proxy.listen) < 1.0


def test_timeout_toxic_via_the_python_client(
    tp: toxiproxy.Toxiproxy, echo_upstream: Upstream
) -> None:
    proxy = tp.create(upstream=echo_upstream.address, name="py-timeout")
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 150})
    host, port = proxy.listen.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"x")
        start = time.monotonic()
        assert recv_all(sock) == b""
        assert time.monotonic() - start >= 0.1


def test_populate_reset_and_destroy_all(tp: toxiproxy.Toxiproxy, echo_upstream: Upstream) -> None:
    made = tp.populate([
        {"name": "one", "upstream": echo_upstream.address, "listen": "127.0.0.1:0"},
        {"name": "two", "upstream": echo_upstream.address, "listen": "127.0.0.1:0"},
    ])  # fmt: skip
    assert {p.name for p in made} == {"one", "two"}
    one = tp.get_proxy("one")
    one.add_toxic(type="latency", attributes={"latency": 500})
    one.disable()
    assert tp.reset() is True
    one = tp.get_proxy("one")
    assert one.enabled is True and one.toxics() == {}
    tp.destroy_all()
    assert tp.proxies() == {}
