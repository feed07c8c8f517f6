"""The HTTP control endpoint, compatible with gofail and pingcap/failpoint.

==========================  ===============================================  =========
request                     effect                                           reply
==========================  ===============================================  =========
``PUT /<name>``             body = terms; enable                             204
``GET /``                   one ``name=terms`` line per active failpoint     200
``GET /<name>``             the terms of ``name``                            200 / 404
``GET /<name>/count``       hits of ``name`` since it was enabled            200
``GET /<name>/status``      JSON: terms, hits, firings per term              200 / 404
``DELETE /<name>``          disable                                          204 / 404
``PUT /failpoints``         body = ``a=..;b=..``: enable several             204
``GET /failpoints``         the same listing as ``GET /``                    200
==========================  ===============================================  =========

Malformed terms give 400 with the ConfigError message. The server binds loopback by
default; a non-loopback address requires a token (``CHAOSKIT_FAILPOINTS_TOKEN``) sent as
``Authorization: Bearer <token>`` or ``X-Chaoskit-Token``; requests without it get 401.
Changes go to the root scope, so they apply to the whole process, and are in force when
the reply arrives. The handler never evaluates failpoints itself and answers every
request (500 for an unexpected error): enabling ``panic`` never breaks the reply.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chaoskit.errors import ConfigError
from chaoskit.failpoints import registry
from chaoskit.failpoints.terms import parse_entries, parse_terms

__all__ = ["ControlServer", "parse_address"]

_MAX_BODY = 1 << 20


def parse_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` or ``port`` -> (host, port); host defaults to 127.0.0.1."""
    text = address.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(
            "bad failpoint HTTP address (expected host:port)",
            text=address,
            source="CHAOSKIT_FAILPOINTS_HTTP",
        ) from None
    if not 0 <= port <= 65535:
        raise ConfigError(
            f"port {port} out of range", text=address, source="CHAOSKIT_FAILPOINTS_HTTP"
        )
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listing() -> str:
    return "".join(
        f"{name}={st.terms}\n" for name, st in registry.status(scope=registry.ROOT).items()
    )


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, code: int, body: str = "", content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and code != 204:
            self.wfile.write(data)
        self.wfile.flush()

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("X-Chaoskit-Token")
        auth = self.headers.get("Authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def _name(self) -> str:
        path = urllib.parse.urlsplit(self.path).path
        return urllib.parse.unquote(path.lstrip("/"))

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ConfigError(f"request body too large ({length} bytes)")
        return self.rfile.read(length).decode("utf-8", errors="replace")

    def _handle(self, method: str) -> None:
        if not self._authorized():
            self._reply(401, "missing or wrong failpoint token\n")
            return
        try:
            self._dispatch(method)
        except ConfigError as exc:
            self._reply(400, f"{exc}\n")
        except Exception as exc:  # the endpoint must answer whatever happens
            self._reply(500, f"{type(exc).__name__}: {exc}\n")

    def _dispatch(self, method: str) -> None:
        name = self._name()
        if method == "GET":
            if name in ("", "failpoints"):
                self._reply(200, _listing())
            elif name.endswith("/count"):
                self._reply(200, str(registry.hit_count(name[: -len("/count")])))
            elif name.endswith("/status"):
                key = name[: -len("/status")]
                st = registry.status(key, scope=registry.ROOT).get(key)
                if st is None:
                    self._reply(404, f"failpoint {key!r} is not active\n")
                else:
                    self._reply(200, json.dumps(st.to_dict()), "application/json")
            else:
                st = registry.status(name, scope=registry.ROOT).get(name)
                if st is None:
                    self._reply(404, f"failpoint {name!r} is not active\n")
                else:
                    self._reply(200, st.terms)
        elif method == "PUT":
            body = self._body()
            if name == "failpoints":
                from chaoskit.failpoints.sources import apply_entries

                entries = parse_entries(body, source="PUT /failpoints")
                apply_entries(entries)
                self._reply(204)
            elif not name:
                self._reply(405, "PUT needs a failpoint name\n")
            else:
                terms = parse_terms(body.strip(), source=f"PUT /{name}")
                self._enable(name, terms)
                self._reply(204)
        elif method == "DELETE":
            if not name or registry.ROOT.lookup(name) is None:
                self._reply(404, f"failpoint {name!r} is not active\n")
            else:
                registry.disable(name, scope=registry.ROOT)
                self._reply(204)
        else:  # pragma: no cover - only the verbs above are routed here
            self._reply(405)

    @staticmethod
    def _enable(name: str, terms: Any) -> None:
        from chaoskit.failpoints.sources import apply_entries

        apply_entries([(name, terms)])

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    token: str | None = None


class _Server6(_Server):
    address_family = socket.AF_INET6


class ControlServer:
    """The endpoint in a daemon thread; ``start``/``stop`` or use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None):
        if not _is_loopback(host) and not token:
            raise ConfigError(
                f"the failpoint endpoint on non-loopback address {host!r} needs "
                "CHAOSKIT_FAILPOINTS_TOKEN",
                text=f"{host}:{port}",
                source="CHAOSKIT_FAILPOINTS_HTTP",
            )
        self.host = host
        self.port = port
        self.token = token or None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_address(cls, address: str, *, token: str | None = None) -> ControlServer:
        host, port = parse_address(address)
        return cls(host, port, token=token)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ControlServer:
        if self._server is not None:
            return self
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self.port), _Handler, bind_and_activate=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen for failpoint control: {exc.strerror or exc}",
                text=f"{self.host}:{self.port}",
                source="CHAOSKIT_FAILPOINTS_HTTP",
            ) from None
        server.token = self.token
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="chaoskit-failpoints-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"<failpoint ControlServer {self.url} {state}>"
