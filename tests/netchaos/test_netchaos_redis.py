"""A real database through the proxy: Debian's redis-server with redis-py.

Shows latency, a connection cut, a reset and a stall, and redis-py's own retry behaviour.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.backoff import ConstantBackoff, NoBackoff
from redis.retry import Retry

from chaoskit.netchaos import redirect
from chaoskit.netchaos.client import Client, ProxyInfo

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(port=port, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def redis_proxy(client: Client, redis_port: int) -> ProxyInfo:
    return client.create("redis", f"127.0.0.1:{redis_port}")


def _client(proxy: ProxyInfo, retries: int = 0, **kw: object) -> redis.Redis:
    retry = Retry(ConstantBackoff(0.1), retries) if retries else Retry(NoBackoff(), 0)
    return redis.Redis(host=proxy.host, port=proxy.port, retry=retry, **kw)  # type: ignore[arg-type]


def fastest(fn: Callable[[], object], times: int = 3) -> float:
    """The quickest of a few timed calls (scheduling noise only ever adds time)."""
    best = float("inf")
    for _ in range(times):
        start = time.monotonic()
        fn()
        best = min(best, time.monotonic() - start)
    return best


def test_latency_slows_every_command(redis_proxy: ProxyInfo) -> None:
    r = _client(redis_proxy)
    r.set("k", "v")
    assert fastest(lambda: r.get("k")) < 0.1
    with redis_proxy.toxic("latency", latency=150):
        start = time.monotonic()
        assert r.get("k") == b"v"
        assert time.monotonic() - start >= 0.148
    assert fastest(lambda: r.get("k")) < 0.1


def test_cut_connection_fails_without_retry_and_recovers_with_it(redis_proxy: ProxyInfo) -> None:
    plain = _client(redis_proxy)
    patient = _client(redis_proxy, retries=20)
    assert plain.ping() and patient.ping()
    redis_proxy.disable()  # cuts both live connections, refuses new ones
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    restore = threading.Timer(0.5, redis_proxy.enable)
    restore.start()
    start = time.monotonic()
    try:
        assert patient.set("after-cut", "yes")  # redis-py retries until the proxy is back
    finally:
        restore.join()
    assert time.monotonic() - start >= 0.4
    assert plain.get("after-cut") == b"yes"  # a new connection works again


def test_reset_peer_is_a_connection_error(redis_proxy: ProxyInfo) -> None:
    r = _client(redis_proxy)
    assert r.ping()
    with redis_proxy.toxic("reset_peer", stream="upstream"), pytest.raises(redis.ConnectionError):
        r.ping()


def test_timeout_toxic_trips_the_socket_timeout(redis_proxy: ProxyInfo) -> None:
    r = _client(redis_proxy, socket_timeout=0.3)
    assert r.ping()
    with redis_proxy.toxic("timeout", stream="downstream", timeout=0):
        start = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            r.ping()
        assert time.monotonic() - start >= 0.29


def test_redirect_puts_an_unchanged_client_behind_the_proxy(
    client: Client, redis_port: int
) -> None:
    r = redis.Redis(host="127.0.0.1", port=redis_port)  # the app's own connection string
    with redirect(f"127.0.0.1:{redis_port}", api=client.url, name="app-redis") as red:
        assert red.proxy is not None
        red.proxy.add_toxic("latency", latency=100)
        r.connection_pool.disconnect()
        start = time.monotonic()
        r.ping()
        assert time.monotonic() - start >= 0.098
    r.connection_pool.disconnect()
    assert fastest(r.ping) < 0.1
