"""The HTTP API: every endpoint, status code, error message and lenient decoding rule."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from netchaos_helpers import Upstream, connect, recv_all, recv_exactly

from chaoskit.netchaos import VERSION, ServerHandle
from chaoskit.netchaos.client import ApiResponseError, Client
from chaoskit.netchaos.proxy import split_address
from chaoskit.netchaos.server import ProxyServer, decode_proxy
from chaoskit.netchaos.toxics import ApiError


def call(
    server: ServerHandle,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, str]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(server.url + path, data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as resp:
            status, text, ctype = resp.status, resp.read().decode(), resp.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, text, ctype = exc.code, exc.read().decode(), exc.headers["Content-Type"]
    parsed = json.loads(text) if text and "json" in (ctype or "") else text
    return status, parsed, ctype or ""


def test_create_returns_201_with_the_bound_listen_address(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    status, body, ctype = call(
        server, "POST", "/proxies", {"name": "a", "upstream": echo_upstream.address,
                                     "listen": "localhost:0"},
    )  # fmt: skip
    assert status == 201
    assert "application/json" in ctype
    host, port = body["listen"].split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert body == {"name": "a", "listen": body["listen"], "upstream": echo_upstream.address,
                    "enabled": True, "toxics": []}  # fmt: skip
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"


def test_create_errors(server: ServerHandle, echo_upstream: Upstream) -> None:
    assert call(server, "POST", "/proxies", raw=b"") [:2] == (
        400, {"error": "bad request body: EOF", "status": 400})  # fmt: skip
    status, body, _ = call(server, "POST", "/proxies", raw=b"{not json")
    assert status == 400 and body["error"].startswith("bad request body: ")
    assert call(server, "POST", "/proxies", {"upstream": "x:1"})[1] == {
        "error": "missing required field: name", "status": 400}  # fmt: skip
    assert call(server, "POST", "/proxies", {"name": "n"})[1]["error"] == (
        "missing required field: upstream")  # fmt: skip
    assert (
        call(server, "POST", "/proxies", {"name": "n", "upstream": echo_upstream.address})[0] == 201
    )
    assert call(server, "POST", "/proxies", {"name": "n", "upstream": "1.2.3.4:1"})[:2] == (
        409, {"error": "proxy already exists", "status": 409})  # fmt: skip


def test_failed_bind_is_500_and_stores_nothing(server: ServerHandle) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        status, body, _ = call(server, "POST", "/proxies",
                               {"name": "b", "upstream": "127.0.0.1:1", "listen": f"127.0.0.1:{port}"})  # fmt: skip
        assert status == 500 and "address already in use" in body["error"].lower()
        assert call(server, "GET", "/proxies")[1] == {}
    finally:
        taken.close()


def test_failed_bind_on_update_keeps_the_old_addresses_and_listener(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    proxy = Client(server.url).create("moving", echo_upstream.address)
    before = proxy.refresh().listen
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        status, body, _ = call(server, "POST", "/proxies/moving",
                               {"listen": f"127.0.0.1:{port}", "upstream": "127.0.0.1:1"})  # fmt: skip
        assert status == 500 and "address already in use" in body["error"].lower()
    finally:
        taken.close()
    after = call(server, "GET", "/proxies/moving")[1]
    assert (after["listen"], after["upstream"], after["enabled"]) == (
        before, echo_upstream.address, True)  # fmt: skip
    with connect(proxy) as sock:  # the old listener still serves
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"


def test_failed_bind_on_enable_leaves_the_proxy_disabled(server: ServerHandle) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        assert call(server, "POST", "/proxies", {"name": "off", "upstream": "127.0.0.1:1",
                                                  "listen": listen, "enabled": False})[0] == 201  # fmt: skip
        status, body, _ = call(server, "POST", "/proxies/off", {"enabled": True})
        assert status == 500 and "address already in use" in body["error"].lower()
        assert call(server, "GET", "/proxies/off")[1]["enabled"] is False
    finally:
        taken.close()


def test_reset_removes_every_toxic_even_when_a_proxy_cannot_be_reenabled(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        call(server, "POST", "/proxies", {"name": "a-blocked", "upstream": "127.0.0.1:1",
                                          "listen": listen, "enabled": False})  # fmt: skip
        other = Client(server.url).create("b-other", echo_upstream.address)
        other.add_toxic("latency", latency=1000)
        other.disable()
        status, body, _ = call(server, "POST", "/reset")
        assert status == 500 and "address already in use" in body["error"].lower()
        assert other.toxics() == [] and other.refresh().enabled is True
        assert call(server, "GET", "/proxies/a-blocked")[1]["enabled"] is False
        with connect(other) as sock:
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
    finally:
        taken.close()


def test_concurrent_creates_of_one_name_bind_one_listener() -> None:
    # Two API requests for one name overlap while the first binds its listener.
    async def main() -> list[Any]:
        srv = ProxyServer(seed=1)
        spec = decode_proxy({"name": "same", "upstream": "127.0.0.1:1"})
        results = await asyncio.gather(
            *(srv.create(dict(spec)) for _ in range(5)), return_exceptions=True
        )
        await srv.close()
        return results

    results = asyncio.run(main())
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1
    assert all(isinstance(r, ApiError) and r.status == 409 for r in results if r not in created)
    for proxy in created:  # closing the server closed every listener it bound
        with pytest.raises(OSError):
            socket.create_connection(split_address(proxy.listen), timeout=2).close()


def test_deleting_a_proxy_while_an_update_rebinds_it_leaves_no_listener() -> None:
    async def main() -> str:
        srv = ProxyServer(seed=1)
        proxy = await srv.create(decode_proxy({"name": "p", "upstream": "127.0.0.1:1"}))
        # the update stops the old listener, then binds a new one; the delete lands between
        await asyncio.gather(
            srv.update("p", {"listen": "127.0.0.1:0"}), srv.delete("p"), return_exceptions=True
        )
        listen = proxy.listen
        running = proxy.running
        await srv.close()
        assert not running and srv.proxies == {}
        return listen

    host, port = split_address(asyncio.run(main()))
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2).close()


def test_lenient_decoding(server: ServerHandle, echo_upstream: Upstream) -> None:
    status, body, _ = call(server, "POST", "/proxies", {
        "NAME": "lenient", "Upstream": echo_upstream.address, "listen": None,
        "enabled": None, "toxics": None, "unknown": [1, 2]})  # fmt: skip
    assert status == 201 and body["enabled"] is True and body["listen"].startswith("127.0.0.1:")
    status, toxic, _ = call(server, "POST", "/proxies/lenient/toxics", {
        "Type": "latency", "STREAM": "upstream", "toxicity": None,
        "attributes": {"Latency": 100.0, "jitter": None, "bogus": 3}})  # fmt: skip
    assert status == 200
    assert toxic == {"attributes": {"latency": 100, "jitter": 0}, "name": "latency_upstream",
                     "type": "latency", "stream": "upstream", "toxicity": 1.0}  # fmt: skip


def test_double_slashes_are_normalised_not_redirected(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    Client(server.url).create("slash", echo_upstream.address)
    status, body, _ = call(server, "GET", "//proxies//slash")
    assert status == 200 and body["name"] == "slash"


def test_proxy_get_update_delete(server: ServerHandle, echo_upstream: Upstream) -> None:
    client = Client(server.url)
    proxy = client.create("p", echo_upstream.address)
    status, body, _ = call(server, "GET", "/proxies/p")
    assert status == 200 and body["listen"] == proxy.listen and body["enabled"] is True
    assert call(server, "GET", "/proxies/nope")[:2] == (
        404,
        {"error": "proxy not found", "status": 404},
    )
    # partial update keeps missing fields
    status, body, _ = call(server, "PATCH", "/proxies/p", {"enabled": False})
    assert status == 200 and body["enabled"] is False and body["upstream"] == echo_upstream.address
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=2)
    status, body, _ = call(server, "POST", "/proxies/p", {"enabled": True})
    assert body["enabled"] is True and body["listen"] == proxy.listen
    with connect(proxy) as sock:
        sock.sendall(b"ok")
        assert recv_exactly(sock, 2) == b"ok"
    assert call(server, "DELETE", "/proxies/p")[:2] == (204, "")
    assert call(server, "DELETE", "/proxies/p")[0] == 404
    assert call(server, "GET", "/proxies")[1] == {}


def test_disable_closes_live_connections(server: ServerHandle, echo_upstream: Upstream) -> None:
    proxy = Client(server.url).create("down", echo_upstream.address)
    with connect(proxy) as sock:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        proxy.disable()
        assert recv_all(sock) == b""


def test_changing_upstream_restarts_the_proxy(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    other = Upstream(lambda conn: conn.sendall(b"other"))
    try:
        proxy = Client(server.url).create("move", echo_upstream.address)
        with connect(proxy) as sock:
            proxy.update(upstream=other.address)
            assert recv_all(sock) == b""  # restarting closed it
        with connect(proxy) as sock:
            assert recv_exactly(sock, 5) == b"other"
    finally:
        other.close()


def test_unreachable_upstream_accepts_then_closes(server: ServerHandle) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    proxy = Client(server.url).create("dead", f"127.0.0.1:{port}")
    with connect(proxy) as sock, contextlib.suppress(ConnectionResetError):
        assert recv_all(sock) == b""


def test_toxic_endpoints(server: ServerHandle, echo_upstream: Upstream) -> None:
    Client(server.url).create("t", echo_upstream.address)
    assert call(server, "GET", "/proxies/t/toxics")[1] == []
    status, toxic, _ = call(server, "POST", "/proxies/t/toxics", {"type": "noop"})
    assert status == 200
    assert toxic == {"attributes": {}, "name": "noop_downstream", "type": "noop",
                     "stream": "downstream", "toxicity": 1.0}  # fmt: skip
    call(server, "POST", "/proxies/t/toxics", {"type": "latency", "stream": "upstream",
                                              "attributes": {"latency": 5}})  # fmt: skip
    names = [t["name"] for t in call(server, "GET", "/proxies/t/toxics")[1]]
    assert names == ["latency_upstream", "noop_downstream"]  # upstream first
    assert call(server, "POST", "/proxies/t/toxics", {"type": "noop", "name": "latency_upstream"})[:2] == (
        409, {"error": "toxic already exists", "status": 409})  # fmt: skip
    assert (
        call(server, "POST", "/proxies/t/toxics", {"type": "bogus"})[1]["error"]
        == "invalid toxic type"
    )
    assert call(server, "POST", "/proxies/t/toxics", {"type": "noop", "stream": "sideways"})[1] == {
        "error": "stream was invalid, can be either upstream or downstream", "status": 400}  # fmt: skip
    assert call(server, "POST", "/proxies/x/toxics", {"type": "noop"})[0] == 404
    # update merges attributes, reads only attributes and toxicity
    status, body, _ = call(server, "PATCH", "/proxies/t/toxics/latency_upstream",
                           {"attributes": {"jitter": 2}, "toxicity": 0.5, "type": "noop",
                            "stream": "downstream"})  # fmt: skip
    assert status == 200
    assert body == {"attributes": {"latency": 5, "jitter": 2}, "name": "latency_upstream",
                    "type": "latency", "stream": "upstream", "toxicity": 0.5}  # fmt: skip
    assert call(server, "GET", "/proxies/t/toxics/latency_upstream")[1] == body
    assert call(server, "GET", "/proxies/t/toxics/none")[:2] == (
        404, {"error": "toxic not found", "status": 404})  # fmt: skip
    assert call(server, "DELETE", "/proxies/t/toxics/latency_upstream")[:2] == (204, "")
    assert call(server, "DELETE", "/proxies/t/toxics/latency_upstream")[0] == 404
    proxy_json = call(server, "GET", "/proxies/t")[1]
    assert [t["name"] for t in proxy_json["toxics"]] == ["noop_downstream"]


def test_reset_reenables_and_removes_toxics(server: ServerHandle, echo_upstream: Upstream) -> None:
    client = Client(server.url)
    a = client.create("a", echo_upstream.address)
    b = client.create("b", echo_upstream.address)
    a.add_toxic("latency", latency=1000)
    b.disable()
    status, body, _ = call(server, "POST", "/reset", raw=b"")
    assert (status, body) == (204, "")
    proxies = client.proxies()
    assert set(proxies) == {"a", "b"}
    assert all(p.enabled and p.toxic_list == [] for p in proxies.values())
    with connect(b) as sock:
        sock.sendall(b"back")
        assert recv_exactly(sock, 4) == b"back"


def test_populate(server: ServerHandle, echo_upstream: Upstream) -> None:
    client = Client(server.url)
    keep = client.create("keep", echo_upstream.address)
    keep.add_toxic("noop")
    change = client.create("change", echo_upstream.address)
    change.add_toxic("noop")
    status, body, _ = call(server, "POST", "/populate", [
        {"name": "keep", "upstream": echo_upstream.address, "listen": keep.listen},
        {"name": "change", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"},
        {"name": "new", "upstream": echo_upstream.address,
         "toxics": [{"type": "latency", "attributes": {"latency": 10}}]},
    ])  # fmt: skip
    assert status == 201
    by_name = {p["name"]: p for p in body["proxies"]}
    assert set(by_name) == {"keep", "change", "new"}
    assert by_name["keep"]["toxics"] != [] and by_name["keep"]["listen"] == keep.listen
    assert by_name["change"]["toxics"] == [] and by_name["change"]["upstream"] == "127.0.0.1:1"
    assert by_name["new"]["toxics"][0]["type"] == "latency"
    assert call(server, "POST", "/populate", [])[:2] == (201, {"proxies": []})
    # validation runs before any change
    status, body, _ = call(server, "POST", "/populate", [
        {"name": "z", "upstream": "127.0.0.1:1"}, {"upstream": "127.0.0.1:1"}])  # fmt: skip
    assert (status, body["error"]) == (400, "missing required field: name at proxy 2")
    assert "z" not in client.proxies()


def test_populate_validates_duplicate_toxic_names_before_any_change(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    client = Client(server.url)
    keep = client.create("keep", echo_upstream.address)
    keep.add_toxic("noop")
    dup = [{"type": "noop", "name": "n"}, {"type": "latency", "name": "n"}]
    status, body, _ = call(server, "POST", "/populate", [
        {"name": "first", "upstream": echo_upstream.address},
        {"name": "keep", "upstream": "127.0.0.1:1", "toxics": dup},
    ])  # fmt: skip
    assert (status, body["error"]) == (409, "toxic already exists")
    proxies = client.proxies()
    assert set(proxies) == {"keep"}
    assert proxies["keep"].listen == keep.listen and len(proxies["keep"].toxic_list) == 1
    status, body, _ = call(server, "POST", "/proxies",
                           {"name": "other", "upstream": "127.0.0.1:1", "toxics": dup})  # fmt: skip
    assert (status, body["error"]) == (409, "toxic already exists")
    assert "other" not in client.proxies()


def test_version_and_metrics(server: ServerHandle, echo_upstream: Upstream) -> None:
    assert call(server, "GET", "/version")[1] == {"version": VERSION}
    proxy = Client(server.url).create("m", echo_upstream.address)
    with connect(proxy) as sock:
        sock.sendall(b"12345")
        recv_exactly(sock, 5)
    status, text, ctype = call(server, "GET", "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    line = (f'toxiproxy_proxy_received_bytes_total{{direction="upstream",listener="{proxy.listen}",'
            f'proxy="m",upstream="{echo_upstream.address}"}} 5')  # fmt: skip
    assert line in text.splitlines()
    assert "# TYPE toxiproxy_proxy_sent_bytes_total counter" in text


def test_unknown_paths_and_methods_answer_json(server: ServerHandle) -> None:
    assert call(server, "GET", "/nothing")[:2] == (
        404,
        {"error": "404 page not found", "status": 404},
    )
    status, body, _ = call(server, "PUT", "/proxies", {})
    assert status == 405 and body["status"] == 405


def test_client_raises_api_errors(server: ServerHandle) -> None:
    client = Client(server.url)
    with pytest.raises(ApiResponseError) as info:
        client.get("missing")
    assert info.value.status == 404 and info.value.message == "proxy not found"


def test_client_rejects_bad_urls_and_reports_unreachable_servers() -> None:
    from chaoskit.errors import ChaosKitError, ConfigError

    with pytest.raises(ConfigError, match="ftp://x"):
        Client("ftp://x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = Client(f"127.0.0.1:{port}")
    assert dead.running() is False
    with pytest.raises(ChaosKitError, match="cannot reach"):
        dead.version()


def test_client_context_managers(server: ServerHandle, echo_upstream: Upstream) -> None:
    proxy = Client(server.url).create("cm", echo_upstream.address)
    with proxy.down():
        assert Client(server.url).get("cm").enabled is False
    assert proxy.refresh().enabled is True
    with proxy.toxic("latency", latency=10) as toxic:
        assert [t.name for t in proxy.toxics()] == [toxic.name]
    assert proxy.toxics() == []


def test_metrics_count_received_and_sent_separately(
    server: ServerHandle, echo_upstream: Upstream
) -> None:
    client = Client(server.url)
    proxy = client.create("swallow", echo_upstream.address)
    proxy.add_toxic("timeout", stream="upstream", timeout=0)

    def upstream_counts() -> dict[str, str]:
        counts = {}
        for line in client.metrics().splitlines():
            if 'proxy="swallow"' in line and 'direction="upstream"' in line:
                counts[line.split("{")[0]] = line.rsplit(" ", 1)[1]
        return counts

    with connect(proxy) as sock:
        sock.sendall(b"x" * 300)
        deadline = time.monotonic() + 5
        while upstream_counts()["toxiproxy_proxy_received_bytes_total"] != "300":
            assert time.monotonic() < deadline, upstream_counts()
            time.sleep(0.01)
        counts = upstream_counts()
    assert counts["toxiproxy_proxy_sent_bytes_total"] == "0"  # swallowed by the timeout toxic
