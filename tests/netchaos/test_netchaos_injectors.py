"""Network injectors in real scenarios: toxics appear for the run and are gone after it."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from netchaos_helpers import Upstream, recv_all, recv_exactly

import chaoskit as ck
from chaoskit import injectors
from chaoskit.injectors import network
from chaoskit.netchaos import ServerHandle
from chaoskit.netchaos.client import Client


def roundtrip(address: tuple[str, int], payload: bytes = b"ping") -> float:
    with socket.create_connection(address, timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        return time.monotonic() - start


def upstream_address(up: Upstream) -> tuple[str, int]:
    return ("127.0.0.1", up.port)


def test_proxy_latency_redirects_the_upstream_for_the_run(echo_upstream: Upstream) -> None:
    seen: list[float] = []
    scenario = (
        ck.scenario("latency")
        .step("call", lambda _t: seen.append(roundtrip(upstream_address(echo_upstream))))
        .inject("lag", injectors.proxy_latency(echo_upstream.address, "150ms"))
        .repeat(3)
        .build()
    )
    report = ck.run(scenario)
    assert report.passed
    assert len(seen) == 3 and all(t >= 0.148 for t in seen)
    assert sum(counts.get("toxic", 0) for counts in report.injections.values()) == 1
    assert min(roundtrip(upstream_address(echo_upstream)) for _ in range(3)) < 0.1  # all gone
    assert network._shared == []  # the shared embedded server stopped


def test_injectors_use_a_given_server_and_listen_address(
    server: ServerHandle, client: Client, echo_upstream: Upstream
) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    lag = injectors.proxy_latency(
        echo_upstream.address, 0.1, listen=f"127.0.0.1:{port}", url=server.url, proxy="db"
    )
    cut = injectors.proxy_reset_peer(echo_upstream.address, url=server.url, proxy="db", redirect=False,
                                     stream="upstream", toxicity=0.0)  # fmt: skip
    seen: dict[str, object] = {}

    def step(_target: object) -> None:
        seen["toxics"] = sorted(t.type for t in client.get("db").toxics())
        seen["rt"] = roundtrip(("127.0.0.1", port))
        seen["direct"] = min(roundtrip(upstream_address(echo_upstream)) for _ in range(3))

    ck.run(ck.scenario("given").step("s", step).inject("a", lag).inject("b", cut).build())
    assert seen["toxics"] == ["latency", "reset_peer"]
    assert isinstance(seen["rt"], float) and seen["rt"] >= 0.098
    assert isinstance(seen["direct"], float) and seen["direct"] < 0.09  # no redirect
    assert client.get("db").toxics() == []  # removed on stop, proxy kept


def test_proxy_down_refuses_connections_during_the_run(echo_upstream: Upstream) -> None:
    errors: list[str] = []

    def step(_target: object) -> None:
        try:
            roundtrip(upstream_address(echo_upstream))
        except OSError as exc:
            errors.append(type(exc).__name__)
            raise

    report = ck.Executor(failure_policy=ck.CONTINUE_ON_FAILURE).run(
        ck.scenario("down").step("s", step)
        .inject("down", injectors.proxy_down(echo_upstream.address)).repeat(2).build()
    )  # fmt: skip
    assert errors == ["ConnectionRefusedError"] * 2
    assert not report.passed
    assert roundtrip(upstream_address(echo_upstream)) < 0.5


def test_proxy_down_flaps(echo_upstream: Upstream) -> None:
    outcomes: list[bool] = []

    def step(_target: object) -> None:
        try:
            roundtrip(upstream_address(echo_upstream))
            outcomes.append(True)
        except OSError:
            outcomes.append(False)
        time.sleep(0.02)

    ck.run(
        ck.scenario("flap").step("s", step)
        .inject("flap", injectors.proxy_down(echo_upstream.address, period=0.2, downtime=0.1))
        .run_for(1.2).build()
    )  # fmt: skip
    assert True in outcomes and False in outcomes


def test_toxic_injectors_cut_and_slow(echo_upstream: Upstream) -> None:
    def step(_target: object) -> None:
        with socket.create_connection(upstream_address(echo_upstream), timeout=5) as sock:
            sock.sendall(b"x")
            with pytest.raises(ConnectionResetError):
                sock.recv(10)

    ck.run(ck.scenario("reset").step("s", step).inject(
        "rst", injectors.proxy_reset_peer(echo_upstream.address, stream="upstream")).build())  # fmt: skip

    def silent(_target: object) -> None:
        with socket.create_connection(upstream_address(echo_upstream), timeout=5) as sock:
            sock.sendall(b"x")
            start = time.monotonic()
            assert recv_all(sock) == b""
            assert time.monotonic() - start >= 0.09

    ck.run(ck.scenario("timeout").step("s", silent).inject(
        "to", injectors.proxy_timeout(echo_upstream.address, "100ms")).build())  # fmt: skip


def test_bandwidth_and_slicer_injectors(echo_upstream: Upstream) -> None:
    payload = bytes(range(256)) * 400  # 102,400 bytes

    def step(_target: object) -> None:
        start = time.monotonic()
        assert roundtrip(upstream_address(echo_upstream), payload) > 0
        assert time.monotonic() - start >= 0.18  # 100 KB at 500 KB/s

    ck.run(
        ck.scenario("bw").step("s", step)
        .inject("bw", injectors.proxy_bandwidth(echo_upstream.address, 500))
        .inject("sl", injectors.proxy_slicer(echo_upstream.address, 512, 128, "10us"))
        .build()
    )  # fmt: skip


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ck.ConfigError, match="HOST:PORT"):
        ck.scenario("bad").step("s", lambda _t: None).inject(
            "x", injectors.proxy_latency("no-port", 0.1)).build()  # fmt: skip
    with pytest.raises(ck.ConfigError, match="rate"):
        injectors.proxy_bandwidth("127.0.0.1:1", 0)
    with pytest.raises(ck.ConfigError, match="duration"):
        ck.scenario("bad").step("s", lambda _t: None).inject(
            "x", injectors.proxy_latency("127.0.0.1:1", "soon")).build()  # fmt: skip
    with pytest.raises(ck.ConfigError, match="error"):
        ck.scenario("bad").step("s", lambda _t: None).inject(
            "x", injectors.network_chaos(error="gremlins")).build()  # fmt: skip
    with pytest.raises(ck.ConfigError, match="size_variation"):
        injectors.proxy_slicer("127.0.0.1:1", 10, size_variation=-3)


@pytest.mark.parametrize("kind", ["latency", "down"])
def test_a_failed_start_releases_the_shared_server(kind: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        listen = f"127.0.0.1:{taken.getsockname()[1]}"  # busy: creating the proxy fails
        injector = (
            injectors.proxy_latency("127.0.0.1:1", "5ms", listen=listen)
            if kind == "latency"
            else injectors.proxy_down("127.0.0.1:1", listen=listen)
        )
        scenario = ck.scenario("busy").step("s", lambda _t: None).inject("x", injector).build()
        with pytest.raises(ck.ChaosKitError, match="address already in use"):
            ck.run(scenario)
        assert network._shared == [] and network._shared_refs == 0
        assert not [t for t in threading.enumerate() if t.name == "chaoskit-netchaos"]
    finally:
        taken.close()


def test_network_chaos_answers_maybe_network_chaos() -> None:
    results: list[str] = []

    def step(_target: object) -> None:
        start = time.monotonic()
        try:
            ck.maybe_network_chaos("db", 5432)
            results.append("ok")
        except ConnectionRefusedError:
            results.append("refused")
        assert time.monotonic() - start >= 0.009
        ck.maybe_network_chaos("cache", 6379)  # not matched: no delay, no error

    report = ck.run(
        ck.scenario("ctx").step("s", step)
        .inject("net", injectors.network_chaos(latency="10ms", error_rate=0.5, hosts=["db:5432"]))
        .repeat(30).seed(3).build(),
        failure_policy=ck.CONTINUE_ON_FAILURE,
    )  # fmt: skip
    assert "ok" in results and "refused" in results
    assert report.iterations == 30
    ck.maybe_network_chaos("db", 5432)  # outside a run: a no-op


def test_toxicity_draws_follow_the_scenario_seed(echo_upstream: Upstream) -> None:
    """The embedded server reseeds its toxicity draws from the run's seed: the same seed
    slows the same connections."""

    def pattern(seed: int) -> list[bool]:
        slow: list[bool] = []
        scenario = (
            ck.scenario("seeded-toxicity")
            .step("call", lambda _t: slow.append(roundtrip(upstream_address(echo_upstream)) > 0.04))
            .inject("lag", injectors.proxy_latency(echo_upstream.address, "60ms", toxicity=0.5))
            .repeat(12)
            .seed(seed)
            .build()
        )
        assert ck.run(scenario).passed
        return slow

    first = pattern(7)
    assert 0 < sum(first) < 12  # some connections were slowed, some not
    assert pattern(7) == first
