"""Toxiproxy's own acceptance figures, reproduced with real sockets.

Bounds are generous upwards (the machine is small and shared) and tight downwards: a toxic
must never deliver data earlier than it was told to.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time

import pytest
from netchaos_helpers import Sink, Upstream, connect, recv_all, recv_exactly

from chaoskit.netchaos.client import Client, ProxyInfo
from chaoskit.netchaos.stages import slice_sizes

SLACK = 0.100  # seconds of scheduling noise tolerated above a figure (2 shared cores)


class TimedEcho:
    """Echo upstream that records when it had read ``size`` bytes, then echoes them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.times: list[float] = []

    def __call__(self, conn: socket.socket) -> None:
        while True:
            data = recv_exactly(conn, self.size)
            if len(data) < self.size:
                return
            self.times.append(time.monotonic())
            conn.sendall(data)


@pytest.mark.parametrize(
    ("up_ms", "down_ms"),
    [(100, 0), (0, 100), (100, 100), (1000, 100), (100, 1000), (0, 0)],
)
def test_latency_delays_each_direction_by_its_toxic(
    client: Client, up_ms: int, down_ms: int
) -> None:
    size = 32 * 1024 + 13
    handler = TimedEcho(size)
    upstream = Upstream(handler)
    try:
        proxy = client.create("latency", upstream.address)
        proxy.add_toxic("latency", stream="upstream", latency=up_ms)
        proxy.add_toxic("latency", stream="downstream", latency=down_ms)
        payload = random.randbytes(size)
        with connect(proxy) as sock:
            start = time.monotonic()
            sock.sendall(payload)
            echoed = recv_exactly(sock, size)
            end = time.monotonic()
        assert echoed == payload
        server_read = handler.times[0] - start
        client_read = end - handler.times[0]
        assert up_ms / 1000 - 0.002 <= server_read <= up_ms / 1000 + SLACK
        assert down_ms / 1000 - 0.002 <= client_read <= down_ms / 1000 + SLACK
        assert (up_ms + down_ms) / 1000 - 0.002 <= end - start <= (up_ms + down_ms) / 1000 + SLACK
    finally:
        upstream.close()


def test_two_latency_toxics_stack(client: Client) -> None:
    handler = TimedEcho(100)
    upstream = Upstream(handler)
    try:
        proxy = client.create("stack", upstream.address)
        proxy.add_toxic("latency", name="a", stream="upstream", latency=500)
        proxy.add_toxic("latency", name="b", stream="upstream", latency=500)
        with connect(proxy) as sock:
            start = time.monotonic()
            sock.sendall(b"x" * 100)
            assert recv_exactly(sock, 100) == b"x" * 100
        assert 0.998 <= handler.times[0] - start <= 1.0 + SLACK
    finally:
        upstream.close()


def test_latency_jitter_stays_within_bounds(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("latency", stream="downstream", latency=100, jitter=30)
    with connect(echo_proxy) as sock:
        for _ in range(5):
            start = time.monotonic()
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
            assert 0.068 <= time.monotonic() - start <= 0.130 + SLACK


def test_latency_does_not_throttle_throughput(echo_proxy: ProxyInfo) -> None:
    """1.2 MB with 100 ms latency arrives in a burst (Toxiproxy: within 12 ms)."""
    echo_proxy.add_toxic("latency", stream="downstream", latency=100)
    size = 1_200_000
    payload = random.randbytes(size)
    with connect(echo_proxy) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        start = time.monotonic()
        sender.start()
        first = sock.recv(1 << 20)
        first_at = time.monotonic()
        rest = recv_exactly(sock, size - len(first))
        done = time.monotonic()
        sender.join()
    assert first + rest == payload
    assert first_at - start >= 0.098
    assert done - first_at < 0.095, f"1.2 MB took {done - first_at:.3f}s after the first byte"


def test_bandwidth_paces_480kb_at_1000kbps_in_480ms(
    client: Client, sink: tuple[Sink, Upstream]
) -> None:
    recorder, upstream = sink
    proxy = client.create("bw", upstream.address)
    proxy.add_toxic("bandwidth", stream="upstream", rate=1000)
    payload = random.randbytes(480_000)
    with connect(proxy) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        last = recorder.wait_for(len(payload))
    assert recorder.data == payload
    assert 0.470 <= last - start <= 0.480 + SLACK


def test_bandwidth_rejects_non_positive_rate(client: Client, echo_proxy: ProxyInfo) -> None:
    for rate in (0, -5):
        status, body = _raw(client, "POST", "/proxies/echo/toxics",
                            {"type": "bandwidth", "attributes": {"rate": rate}})  # fmt: skip
        assert status == 400
        assert "rate" in body["error"]
    assert echo_proxy.toxics() == []


def test_bandwidth_and_slicer_without_attributes_are_rejected(
    client: Client, echo_proxy: ProxyInfo
) -> None:
    # Every attribute defaults to 0, so a missing, null or empty attributes object means
    # rate 0 / average_size 0: rejected like an explicit 0, never stored.
    for kind, word in (("bandwidth", "rate"), ("slicer", "average_size")):
        for extra in ({}, {"attributes": None}, {"attributes": {}}):
            status, body = _raw(client, "POST", "/proxies/echo/toxics", {"type": kind, **extra})
            assert status == 400, (kind, extra, body)
            assert word in body["error"]
    assert echo_proxy.toxics() == []


def test_slicer_piece_counts_match_toxiproxy() -> None:
    rng = random.Random(7)
    sizes = slice_sizes(480_000, 1024, 512, rng)
    assert 240 <= len(sizes) <= 720
    assert sum(sizes) == 480_000
    assert slice_sizes(24, 1, 0, rng) == [1] * 24


def test_slicer_keeps_data_intact(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic(
        "slicer", stream="upstream", average_size=1024, size_variation=512, delay=10
    )
    echo_proxy.add_toxic("slicer", stream="downstream", average_size=100, size_variation=50)
    payload = random.randbytes(480_000)
    with connect(echo_proxy) as sock:
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        assert recv_exactly(sock, len(payload)) == payload


def test_slicer_with_delay_spreads_pieces_over_time(
    client: Client, sink: tuple[Sink, Upstream]
) -> None:
    recorder, upstream = sink
    proxy = client.create("slices", upstream.address)
    proxy.add_toxic("slicer", stream="upstream", average_size=10, size_variation=0, delay=20_000)
    with connect(proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"a" * 100)  # ~10 pieces, 20 ms apart
        last = recorder.wait_for(100)
    assert recorder.data == b"a" * 100
    assert last - start >= 0.9 * 0.020 * (len(slice_sizes(100, 10, 0, random.Random())) - 1)
    assert len(recorder.received) >= 5


@pytest.mark.parametrize(
    ("writes", "expected"),
    [([150], [100]), ([90, 20], [90, 10]), ([25, 25, 25, 25], [25, 25, 25, 25]), ([10], [])],
)
def test_limit_data_forwards_at_most_the_limit(
    client: Client, sink: tuple[Sink, Upstream], writes: list[int], expected: list[int]
) -> None:
    recorder, upstream = sink
    limit = 0 if expected == [] else 100
    proxy = client.create("limit", upstream.address)
    proxy.add_toxic("limit_data", stream="upstream", bytes=limit)
    with connect(proxy) as sock:
        sent = 0
        for n in writes:
            sock.sendall(bytes([65 + sent % 26]) * n)
            sent += n
            time.sleep(0.05)
        assert recv_all(sock) == b""  # the proxy closed the connection at the limit
    assert recorder.eof.wait(5)
    assert len(recorder.data) == sum(expected)


def test_limit_data_count_survives_toxic_update(
    client: Client, sink: tuple[Sink, Upstream]
) -> None:
    recorder, upstream = sink
    proxy = client.create("limit2", upstream.address)
    proxy.add_toxic("limit_data", name="cap", stream="upstream", bytes=100)
    with connect(proxy) as sock:
        sock.sendall(b"a" * 60)
        recorder.wait_for(60)
        proxy.update_toxic("cap", bytes=80)
        sock.sendall(b"b" * 60)
        assert recv_all(sock) == b""
    assert recorder.eof.wait(5)
    assert recorder.data == b"a" * 60 + b"b" * 20


def test_reset_peer_resets_the_client_after_its_timeout(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("reset_peer", stream="upstream", timeout=100)
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
        elapsed = time.monotonic() - start
    assert 0.098 <= elapsed <= 0.210 + SLACK


def test_reset_peer_respects_toxicity_zero(echo_proxy: ProxyInfo) -> None:
    """Toxiproxy resets even at toxicity 0; chaoskit does not."""
    echo_proxy.add_toxic("reset_peer", stream="upstream", toxicity=0.0)
    with connect(echo_proxy) as sock:
        sock.sendall(b"hello")
        assert recv_exactly(sock, 5) == b"hello"


def test_toxicity_is_drawn_per_connection(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("latency", stream="downstream", latency=150, toxicity=0.5)
    slow = 0
    for _ in range(30):
        with connect(echo_proxy) as sock:
            start = time.monotonic()
            sock.sendall(b"x")
            recv_exactly(sock, 1)
            slow += time.monotonic() - start >= 0.148
    assert 3 <= slow <= 27


def test_timeout_zero_swallows_data_and_removal_closes(
    client: Client, sink: tuple[Sink, Upstream]
) -> None:
    recorder, upstream = sink
    proxy = client.create("to", upstream.address)
    proxy.add_toxic("timeout", name="t", stream="upstream", timeout=0)
    with connect(proxy) as sock:
        sock.sendall(b"lost")
        time.sleep(0.2)
        assert recorder.data == b""
        start = time.monotonic()
        proxy.remove_toxic("t")
        assert recv_all(sock) == b""
        assert recorder.eof.wait(1.0)
        assert time.monotonic() - start < 1.0


def test_removing_a_toxic_ahead_of_timeout_zero_completes(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("latency", name="lat", stream="downstream", latency=2000)
    echo_proxy.add_toxic("timeout", name="t", stream="downstream", timeout=0)
    with connect(echo_proxy) as sock:
        sock.sendall(b"data")
        time.sleep(0.1)
        start = time.monotonic()
        echo_proxy.remove_toxic("lat")
        assert time.monotonic() - start < 1.0
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(10)  # still swallowed by the timeout toxic, connection open


def test_timeout_closes_after_silence(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("timeout", stream="downstream", timeout=200)
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"x")
        assert recv_all(sock) == b""
    assert 0.195 <= time.monotonic() - start <= 0.200 + SLACK + 0.1


def test_slow_close_delays_the_close(client: Client, echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("slow_close", stream="upstream", delay=300)
    with connect(echo_proxy) as sock:
        sock.sendall(b"abc")
        assert recv_exactly(sock, 3) == b"abc"
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    assert time.monotonic() - start >= 0.295


def test_toxic_churn_during_65535_writes_loses_and_reorders_nothing(
    echo_proxy: ProxyInfo,
) -> None:
    count = 65_535
    payload = b"".join(struct.pack("!I", i) for i in range(count))
    stop = threading.Event()
    changes = 0

    def churn() -> None:
        nonlocal changes
        kinds = [
            ("noop", {}),
            ("latency", {"latency": 1}),
            ("slicer", {"average_size": 3, "size_variation": 1}),
            ("bandwidth", {"rate": 100_000}),
        ]
        while not stop.is_set():
            kind, attrs = kinds[changes % len(kinds)]
            stream = "upstream" if changes % 2 else "downstream"
            echo_proxy.add_toxic(kind, name="churn", stream=stream, **attrs)
            echo_proxy.remove_toxic("churn")
            changes += 1

    churner = threading.Thread(target=churn)
    with connect(echo_proxy, timeout=60) as sock:

        def write() -> None:
            for i in range(count):
                sock.sendall(payload[4 * i : 4 * i + 4])

        writer = threading.Thread(target=write)
        churner.start()
        writer.start()
        try:
            echoed = recv_exactly(sock, len(payload))
        finally:
            stop.set()
            churner.join()
            writer.join()
    assert changes > 10
    assert echoed == payload


def test_toxics_added_mid_bulk_transfer_on_the_fast_path_lose_and_reorder_nothing(
    echo_proxy: ProxyInfo,
) -> None:
    """Large writes go through the no-toxic fast path (1 MiB reads into a shared buffer,
    written straight on, under backpressure); toxics come and go on both streams."""
    payload = random.Random(6).randbytes(24 * 1024 * 1024)
    stop = threading.Event()
    changes = 0

    def churn() -> None:
        nonlocal changes
        kinds = [
            ("latency", {"latency": 2}),
            ("slicer", {"average_size": 4096, "size_variation": 1000}),
            ("bandwidth", {"rate": 200_000}),
            ("noop", {}),
        ]
        while not stop.is_set():
            time.sleep(0.02)  # leave the link on the fast path between changes
            kind, attrs = kinds[changes % len(kinds)]
            stream = "upstream" if changes % 2 else "downstream"
            echo_proxy.add_toxic(kind, name="churn", stream=stream, **attrs)
            time.sleep(0.005)
            echo_proxy.remove_toxic("churn")
            changes += 1

    churner = threading.Thread(target=churn)
    with connect(echo_proxy, timeout=60) as sock:

        def write() -> None:
            view = memoryview(payload)
            for offset in range(0, len(payload), 1 << 20):
                sock.sendall(view[offset : offset + (1 << 20)])

        writer = threading.Thread(target=write)
        churner.start()
        writer.start()
        try:
            echoed = recv_exactly(sock, len(payload))
        finally:
            stop.set()
            churner.join()
            writer.join()
    assert changes >= 2
    assert len(echoed) == len(payload)
    assert echoed == payload


def test_slow_readers_on_the_fast_path_get_their_bytes_intact(echo_proxy: ProxyInfo) -> None:
    """Connections that stall their destination (partial sends, buffers lent to the
    transport) while others keep reading into the shared receive buffer corrupt nothing."""
    payloads = [random.Random(seed).randbytes(6 * 1024 * 1024) for seed in range(4)]
    results: list[bytes] = [b""] * len(payloads)

    def transfer(index: int) -> None:
        payload = payloads[index]
        with connect(echo_proxy, timeout=60) as sock:
            writer = threading.Thread(target=sock.sendall, args=(payload,))
            writer.start()
            parts, got = [], 0
            while got < len(payload):
                data = sock.recv(4096 if index % 2 else 1 << 20)
                if not data:
                    break
                parts.append(data)
                got += len(data)
                if index % 2 and len(parts) % 64 == 0:
                    time.sleep(0.002)  # a slow reader: the proxy's sends to it stall
            writer.join()
            results[index] = b"".join(parts)

    threads = [threading.Thread(target=transfer, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for payload, echoed in zip(payloads, results, strict=True):
        assert len(echoed) == len(payload)
        assert echoed == payload


def _raw(client: Client, method: str, path: str, body: object = None) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(client.url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_removing_latency_releases_data_already_waiting(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("latency", name="slow", stream="downstream", latency=2000)
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"waiting")
        time.sleep(0.1)
        echo_proxy.remove_toxic("slow")
        assert recv_exactly(sock, 7) == b"waiting"
        assert time.monotonic() - start < 1.0


def test_updating_latency_applies_to_data_already_waiting(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("latency", name="slow", stream="downstream", latency=2000)
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"waiting")
        time.sleep(0.1)
        echo_proxy.update_toxic("slow", latency=300)  # measured from when the data was read
        assert recv_exactly(sock, 7) == b"waiting"
        assert 0.298 <= time.monotonic() - start < 1.0
