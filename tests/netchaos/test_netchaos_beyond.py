"""What chaoskit's proxy adds to Toxiproxy: connect faults, drop, HTTP errors, half-close."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from netchaos_helpers import Upstream, connect, recv_all, recv_exactly

from chaoskit.netchaos.client import Client, ProxyInfo


def test_half_close_is_forwarded(client: Client) -> None:
    def reply_after_eof(conn: socket.socket) -> None:
        got = recv_all(conn)
        conn.sendall(b"got " + str(len(got)).encode())

    upstream = Upstream(reply_after_eof)
    try:
        proxy = client.create("half", upstream.address)
        with connect(proxy) as sock:
            sock.sendall(b"x" * 1000)
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == b"got 1000"
    finally:
        upstream.close()


def test_half_close_is_forwarded_through_toxics(client: Client) -> None:
    upstream = Upstream(lambda conn: conn.sendall(b"n=%d" % len(recv_all(conn))))
    try:
        proxy = client.create("half2", upstream.address)
        proxy.add_toxic("latency", stream="upstream", latency=50)
        proxy.add_toxic("slicer", stream="downstream", average_size=1)
        with connect(proxy) as sock:
            sock.sendall(b"y" * 10)
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == b"n=10"
    finally:
        upstream.close()


def test_slow_open_delays_new_connections_only(echo_proxy: ProxyInfo) -> None:
    with connect(echo_proxy) as early:
        echo_proxy.add_toxic("slow_open", delay=300)
        start = time.monotonic()
        early.sendall(b"a")
        assert recv_exactly(early, 1) == b"a"
        assert time.monotonic() - start < 0.25
    with connect(echo_proxy) as late:
        start = time.monotonic()
        late.sendall(b"b")
        assert recv_exactly(late, 1) == b"b"
        assert time.monotonic() - start >= 0.295


@pytest.mark.parametrize("reset", [0, 1])
def test_refuse_cuts_new_connections(echo_proxy: ProxyInfo, reset: int) -> None:
    echo_proxy.add_toxic("refuse", reset=reset)
    try:
        with socket.create_connection(echo_proxy.address, timeout=5) as sock:
            data = sock.recv(10)
    except ConnectionResetError:
        assert reset, "a plain refuse closes without a reset"
        return
    assert not reset and data == b"", "a refused connection must not carry data"


def test_drop_cuts_connections_with_its_toxicity(echo_proxy: ProxyInfo) -> None:
    echo_proxy.add_toxic("drop", stream="downstream", delay=100, toxicity=0.5)
    cut = 0
    socks = [connect(echo_proxy) for _ in range(20)]
    time.sleep(0.4)
    for sock in socks:
        sock.settimeout(2)
        try:
            sock.sendall(b"z")
            cut += recv_exactly(sock, 1) != b"z"
        except OSError:
            cut += 1
        sock.close()
    assert 2 <= cut <= 18


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"real"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = b"echo:" + self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_upstream() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_http_error_answers_the_first_n_requests(client: Client, http_upstream: str) -> None:
    proxy = client.create("web", http_upstream)
    proxy.add_toxic("http_error", stream="upstream", status=503, first=2)
    url = f"http://{proxy.listen}/"
    results = [_get(url) for _ in range(4)]
    assert [status for status, _ in results] == [503, 503, 200, 200]
    assert results[2][1] == b"real"
    assert _get(url, data=b"payload") == (200, b"echo:payload")


def test_http_error_skips_discarded_bodies(client: Client, http_upstream: str) -> None:
    proxy = client.create("web2", http_upstream)
    proxy.add_toxic("http_error", stream="upstream", status=500, first=1)
    url = f"http://{proxy.listen}/"
    assert _get(url, data=b"x" * 50_000)[0] == 500
    assert _get(url, data=b"second") == (200, b"echo:second")


def test_http_error_probability(client: Client, http_upstream: str) -> None:
    proxy = client.create("web3", http_upstream)
    proxy.add_toxic("http_error", stream="upstream", status=429, probability=0.5)
    statuses = [_get(f"http://{proxy.listen}/")[0] for _ in range(40)]
    assert set(statuses) == {200, 429}


def test_http_error_must_read_requests(client: Client, http_upstream: str) -> None:
    proxy = client.create("web4", http_upstream)
    with pytest.raises(Exception, match="upstream"):
        proxy.add_toxic("http_error", stream="downstream")


def test_http_error_forwards_traffic_that_is_not_http_unchanged(
    client: Client, echo_proxy: ProxyInfo
) -> None:
    # A Redis command, a line that is not a request line, then a head with no end in sight:
    # none may be held back waiting for a "\r\n\r\n" that never comes.
    echo_proxy.add_toxic("http_error", stream="upstream", status=503, first=1)
    for payload in (b"*1\r\n$4\r\nPING\r\n", b"hello there\n", b"GET /" + b"a" * 70_000):
        with connect(echo_proxy, timeout=5) as sock:
            sock.sendall(payload)
            assert recv_exactly(sock, len(payload)) == payload
    with connect(echo_proxy) as sock:  # HTTP is still answered
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.1 503 ")


def test_http_error_waits_for_the_end_of_a_chunked_body(client: Client, http_upstream: str) -> None:
    proxy = client.create("web5", http_upstream)
    proxy.add_toxic("http_error", stream="upstream", status=502, first=1)
    with connect(proxy) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5;ext=1\r\nhello\r\n")  # fmt: skip
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # not answered before the body ended
        sock.settimeout(5)
        sock.sendall(b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")
        answer = recv_all(sock)
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


def test_request_framer_finds_request_ends() -> None:
    from chaoskit.netchaos.http_toxic import RequestFramer

    framer = RequestFramer()
    assert framer.start(b"GET / HTTP/1.1\r\n\r\n") is True
    assert framer.start(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n") is False
    assert framer.body(b"ab") == (2, False)
    assert framer.body(b"cdGET") == (2, True)
    assert framer.start(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n") is False
    stream = b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT"
    used, done = 0, False
    for i in range(len(stream)):  # byte by byte: every state must survive a split
        if done:
            break
        n, done = framer.body(stream[i : i + 1])
        used += n
    assert done and stream[used:] == b"NEXT"
    framer.start(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    framer.body(b"zz\r\n")
    assert framer.opaque
