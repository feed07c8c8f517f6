"""The gofail/pingcap-compatible HTTP endpoint, over real sockets."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest

from chaoskit.errors import ChaosPanic, ConfigError
from chaoskit.failpoints import failpoint
from chaoskit.failpoints.http import ControlServer, parse_address


def request(
    server: ControlServer,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[ControlServer]:
    with ControlServer("127.0.0.1", 0) as srv:
        yield srv


def test_put_get_count_delete(server: ControlServer, fp_name: str) -> None:
    assert request(server, "PUT", f"/{fp_name}", "2*return(1)->off") == (204, "")
    assert failpoint.inject(fp_name) == 1
    assert request(server, "GET", f"/{fp_name}") == (200, "2*return(1)->off")
    assert request(server, "GET", f"/{fp_name}/count") == (200, "1")
    status, text = request(server, "GET", f"/{fp_name}/status")
    assert status == 200
    assert json.loads(text)["per_term"] == [
        {"term": "2*return(1)", "fired": 1, "remaining": 1},
        {"term": "off", "fired": 0, "remaining": None},
    ]
    assert request(server, "DELETE", f"/{fp_name}") == (204, "")
    assert request(server, "GET", f"/{fp_name}/status")[0] == 404
    assert failpoint.inject(fp_name) is None
    status, _ = request(server, "GET", f"/{fp_name}")
    assert status == 404
    assert request(server, "DELETE", f"/{fp_name}")[0] == 404


def test_list_and_bulk_put(server: ControlServer, fp_name: str) -> None:
    body = f"{fp_name}-a=return(1);{fp_name}-b=sleep(10ms)"
    assert request(server, "PUT", "/failpoints", body)[0] == 204
    status, text = request(server, "GET", "/")
    assert status == 200
    lines = text.splitlines()
    assert f"{fp_name}-a=return(1)" in lines
    assert f"{fp_name}-b=sleep(10ms)" in lines
    assert request(server, "GET", "/failpoints") == (200, text)


def test_names_with_slashes(server: ControlServer) -> None:
    assert request(server, "PUT", "/db/commit-before-fsync", "return(x)")[0] == 204
    assert failpoint.inject("db/commit-before-fsync") == "x"
    assert request(server, "GET", "/db/commit-before-fsync/count") == (200, "1")


def test_malformed_terms_get_400_and_change_nothing(server: ControlServer, fp_name: str) -> None:
    status, text = request(server, "PUT", f"/{fp_name}", "retrun(1)")
    assert status == 400
    assert "unknown action 'retrun'" in text and fp_name in text
    assert not failpoint.is_active(fp_name)
    status, text = request(server, "PUT", "/failpoints", "a=return(1);b=bad")
    assert status == 400 and "entry 'b'" in text
    assert not failpoint.is_active("a")


def test_panic_firing_does_not_kill_the_reply(server: ControlServer, fp_name: str) -> None:
    """Another thread panics the moment the PUT lands; the PUT and later requests answer."""
    panics: list[str] = []
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            try:
                failpoint.inject(fp_name)
            except ChaosPanic as exc:
                panics.append(str(exc))
                stop.wait(0.001)

    t = threading.Thread(target=busy)
    t.start()
    try:
        assert request(server, "PUT", f"/{fp_name}", "panic(boom)") == (204, "")
        deadline = time.monotonic() + 20
        while not panics and time.monotonic() < deadline:
            time.sleep(0.01)
        assert panics, "the busy thread never panicked"
        assert request(server, "GET", f"/{fp_name}") == (200, "panic(boom)")
        assert request(server, "PUT", f"/{fp_name}", "pause")[0] == 204  # does not block
        assert request(server, "DELETE", f"/{fp_name}")[0] == 204
    finally:
        stop.set()
        t.join(10)
    assert panics and panics[0] == "boom"


def test_non_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="CHAOSKIT_FAILPOINTS_TOKEN"):
        ControlServer("0.0.0.0", 0)


def test_token_is_enforced(fp_name: str) -> None:
    with ControlServer("0.0.0.0", 0, token="s3cret") as srv:
        assert request(srv, "PUT", f"/{fp_name}", "return(1)")[0] == 401
        assert request(srv, "GET", "/")[0] == 401
        bad = {"Authorization": "Bearer nope"}
        assert request(srv, "PUT", f"/{fp_name}", "return(1)", bad)[0] == 401
        assert not failpoint.is_active(fp_name)
        good = {"Authorization": "Bearer s3cret"}
        assert request(srv, "PUT", f"/{fp_name}", "return(1)", good)[0] == 204
        assert request(srv, "GET", f"/{fp_name}", headers={"X-Chaoskit-Token": "s3cret"})[0] == 200


def test_server_stops_and_frees_the_port(fp_name: str) -> None:
    srv = ControlServer("127.0.0.1", 0).start()
    port = srv.port
    assert request(srv, "GET", "/")[0] == 200
    srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(OSError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/")
        conn.getresponse()
    with ControlServer("127.0.0.1", port) as again:  # the port can be bound again
        assert request(again, "GET", "/")[0] == 200


def test_address_parsing() -> None:
    assert parse_address("127.0.0.1:1234") == ("127.0.0.1", 1234)
    assert parse_address(":8080") == ("127.0.0.1", 8080)
    assert parse_address("9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:9") == ("::1", 9)
    for bad in ("host:port", "1.2.3.4:99999"):
        with pytest.raises(ConfigError, match="CHAOSKIT_FAILPOINTS_HTTP"):
            parse_address(bad)


def test_ipv6_loopback(fp_name: str) -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    try:
        srv = ControlServer("::1", 0).start()
    except ConfigError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    try:
        conn = http.client.HTTPConnection("::1", srv.port, timeout=10)
        conn.request("PUT", f"/{fp_name}", body="return(6)")
        assert conn.getresponse().status == 204
        conn.close()
        assert failpoint.inject(fp_name) == 6
        assert srv.url.startswith("http://[::1]:")
    finally:
        srv.stop()
