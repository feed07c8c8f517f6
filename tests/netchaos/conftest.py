"""Fixtures: the embedded server on a free port, its client, and real TCP upstreams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netchaos_helpers import Sink, Upstream, echo

from chaoskit.netchaos import ServerHandle, serve
from chaoskit.netchaos.client import Client, ProxyInfo


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with serve(port=0, seed=1) as handle:
        yield handle


@pytest.fixture
def client(server: ServerHandle) -> Client:
    return Client(server.url)


@pytest.fixture
def echo_upstream() -> Iterator[Upstream]:
    up = Upstream(echo)
    yield up
    up.close()


@pytest.fixture
def sink() -> Iterator[tuple[Sink, Upstream]]:
    s = Sink()
    up = Upstream(s)
    yield s, up
    up.close()


@pytest.fixture
def echo_proxy(client: Client, echo_upstream: Upstream) -> ProxyInfo:
    return client.create("echo", echo_upstream.address)
