"""serve() and AsyncServer: start, serve, and stop everything they started."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path

import pytest
from netchaos_helpers import Upstream, recv_exactly

from chaoskit.errors import ConfigError
from chaoskit.netchaos import AsyncServer, Client, serve


def test_serve_stops_listeners_connections_and_thread(echo_upstream: Upstream) -> None:
    with serve(port=0) as server:
        assert any(t.name == "chaoskit-netchaos" for t in threading.enumerate())
        proxy = Client(server.url).create("p", echo_upstream.address)
        live = socket.create_connection(proxy.address, timeout=5)
        live.sendall(b"x")
        assert recv_exactly(live, 1) == b"x"
    assert live.recv(10) == b""  # the live connection was closed
    live.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=2)
    assert not Client(server.url).running()
    assert not any(t.name == "chaoskit-netchaos" for t in threading.enumerate())
    server.stop()  # stopping twice is harmless


def test_serve_reports_a_busy_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            serve(port=port)


def test_serve_loads_a_config_and_rejects_a_bad_one(
    tmp_path: Path, echo_upstream: Upstream
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"proxies": [{"name": "a", "upstream": echo_upstream.address}]}))
    with serve(port=0, config=good) as server:
        assert list(Client(server.url).proxies()) == ["a"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "a", "upstream": "x:1", "toxics": [{"type": "nope"}]}]))
    with pytest.raises(ConfigError, match="invalid toxic type"):
        serve(port=0, config=bad)
    with pytest.raises(ConfigError, match="cannot read"):
        serve(port=0, config=tmp_path / "missing.json")


def test_async_server_runs_on_the_callers_loop(echo_upstream: Upstream) -> None:
    async def main() -> bytes:
        async with AsyncServer(port=0) as srv:
            client = Client(srv.url)
            proxy = await asyncio.to_thread(client.create, "a", echo_upstream.address)
            await asyncio.to_thread(proxy.add_toxic, "latency", latency=50)
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
            loop = asyncio.get_running_loop()
            start = loop.time()
            writer.write(b"async")
            data = await reader.readexactly(5)
            assert loop.time() - start >= 0.048
            writer.close()
            return data

    assert asyncio.run(main()) == b"async"


def test_reseed_makes_toxicity_draws_reproducible(echo_upstream: Upstream) -> None:
    """A shared server reseeded from a scenario's seed repeats the same draws."""

    def refused_pattern(proxy_address: tuple[str, int]) -> list[bool]:
        pattern = []
        for _ in range(16):
            with socket.create_connection(proxy_address, timeout=5) as sock:
                try:
                    sock.sendall(b"x")
                    pattern.append(recv_exactly(sock, 1) != b"x")
                except ConnectionResetError:  # refused after the accept
                    pattern.append(True)
        return pattern

    with serve(port=0) as server:
        proxy = Client(server.url).create("coin", echo_upstream.address)
        proxy.add_toxic("refuse", toxicity=0.5)
        server.reseed(1234)
        first = refused_pattern(proxy.address)
        server.reseed(1234)
        assert refused_pattern(proxy.address) == first
        assert any(first) and not all(first)
