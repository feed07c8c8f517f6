"""Network chaos: a retrying HTTP client against a service behind the embedded proxy.

    python examples/network_chaos/main.py

The "inventory service" is a local HTTP server; ``fetch_stock`` is the code under test. It
keeps its own connection string (127.0.0.1:<port>): the network injectors put a proxy in
front of the service and redirect the client's connections through it, so nothing in the
client changes. The scenario adds 40 ms +- 20 ms latency on every response and resets one
connection in five; the client's retry loop must still answer every call within 1 s.
A second run answers HTTP 503 to the first requests (an HTTP-aware toxic).
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request

import chaoskit as ck
from chaoskit import injectors, validators
from chaoskit.netchaos import Client, serve


class InventoryHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"sku": "A-1", "stock": 42}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class InventoryServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # resets injected by the proxy reach the service too; that is expected


class InventoryClient:
    """The code under test: retries connection errors and 5xx answers."""

    name = "inventory-client"

    def __init__(self, url: str, attempts: int = 5) -> None:
        self.url = url
        self.attempts = attempts
        self.retries = 0

    def fetch_stock(self) -> bytes:
        for attempt in range(self.attempts):
            try:
                with urllib.request.urlopen(self.url, timeout=0.5) as resp:
                    return bytes(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt + 1 == self.attempts:
                    raise
            except (ConnectionError, TimeoutError, urllib.error.URLError):
                if attempt + 1 == self.attempts:
                    raise
            self.retries += 1
            time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")


def call(client: InventoryClient) -> None:
    assert b'"stock": 42' in client.fetch_stock()


def main() -> None:
    service = InventoryServer(("127.0.0.1", 0), InventoryHandler)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    upstream = f"127.0.0.1:{service.server_address[1]}"
    client = InventoryClient(f"http://{upstream}/stock/A-1")
    try:
        # 1. latency and resets, through the shared embedded proxy, redirected
        scenario = (
            ck.scenario("inventory-under-network-chaos")
            .target(client)
            .step("fetch-stock", call)
            .inject("latency", injectors.proxy_latency(upstream, "40ms", jitter="20ms"))
            .inject("resets", injectors.proxy_reset_peer(upstream, stream="upstream", toxicity=0.2))
            .check("fast-enough", validators.execution_time("1s"))
            .repeat(40)
            .seed(7)
            .build()
        )
        report = ck.run(scenario)
        print(report.to_text())
        print(f"client retries: {client.retries}")

        # 2. an explicit server and the Toxiproxy-compatible API: 503 for the first 3 requests
        with serve(port=0) as server:
            api = Client(server.url)
            proxy = api.create("inventory", upstream)
            proxy.add_toxic("http_error", stream="upstream", status=503, first=3)
            behind_proxy = InventoryClient(f"http://{proxy.listen}/stock/A-1")
            call(behind_proxy)
            print(f"503 x3 then success: the client retried {behind_proxy.retries} times")
            print(api.metrics().splitlines()[2])
    finally:
        service.shutdown()
        service.server_close()


if __name__ == "__main__":
    main()
