"""Send a program's connections to ``HOST:PORT`` through a proxy, without code changes.

``redirect("db.local:5432")`` patches ``socket.socket.connect`` and ``connect_ex`` (which
``socket.create_connection``, asyncio's ``open_connection``/``create_connection`` and
most drivers end up calling) so that a connection to the target goes to a proxy instead:

- ``via="HOST:PORT"``: to that address (a ``chaoskit proxy`` listener, a Toxiproxy proxy);
- otherwise a proxy named after the target is created on the proxy API at ``api``
  (default ``http://127.0.0.1:8474``), starting an embedded server there if none answers.

The patch is installed while at least one redirect is active and removed with the last
one. The embedded proxy's own upstream connections are never redirected.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from chaoskit.errors import ConfigError
from chaoskit.netchaos.client import Client, ProxyInfo
from chaoskit.netchaos.connection import BYPASS_REDIRECT
from chaoskit.netchaos.embedded import ServerHandle, serve

__all__ = ["Redirect", "active_redirects", "parse_target", "redirect"]

_lock = threading.Lock()
_active: list[Redirect] = []
_saved: dict[str, Any] = {}


def parse_target(text: str, what: str = "redirect target") -> tuple[str, int]:
    """``HOST:PORT`` (or ``[v6]:PORT``) into its parts, as a ConfigError if malformed."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{what} must look like HOST:PORT", text=text)
    return host.strip("[]"), int(port_text)


def _resolve(host: str, port: int) -> frozenset[str]:
    names = {host}
    try:
        for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            names.add(str(info[4][0]))
    except OSError:
        pass
    for name in list(names):
        try:
            addr = ipaddress.ip_address(name)
        except ValueError:
            continue
        if isinstance(addr, ipaddress.IPv4Address):
            names.add(f"::ffff:{addr}")
        elif addr.ipv4_mapped is not None:
            names.add(str(addr.ipv4_mapped))
    return frozenset(names)


def _rewrite(sock: socket.socket, address: Any) -> Any:
    if BYPASS_REDIRECT.get() or not isinstance(address, tuple) or len(address) < 2:
        return address
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return address
    host, port = address[0], address[1]
    for entry in tuple(_active):
        if port == entry.port and host in entry.hosts:
            new_host, new_port = entry.address
            if sock.family == socket.AF_INET6:
                try:
                    if ipaddress.ip_address(new_host).version == 4:
                        new_host = f"::ffff:{new_host}"
                except ValueError:
                    pass
                return (new_host, new_port, *address[2:])
            return (new_host, new_port)
    return address


def _connect(self: socket.socket, address: Any) -> None:
    return _saved["connect"](self, _rewrite(self, address))  # type: ignore[no-any-return]


def _connect_ex(self: socket.socket, address: Any) -> int:
    return _saved["connect_ex"](self, _rewrite(self, address))  # type: ignore[no-any-return]


def _install(entry: Redirect) -> None:
    with _lock:
        if not _active:
            _saved["connect"] = socket.socket.connect
            _saved["connect_ex"] = socket.socket.connect_ex
            socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
            socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
        _active.append(entry)


def _uninstall(entry: Redirect) -> None:
    with _lock:
        if entry in _active:
            _active.remove(entry)
        if not _active and _saved:
            socket.socket.connect = _saved.pop("connect")  # type: ignore[method-assign]
            socket.socket.connect_ex = _saved.pop("connect_ex")  # type: ignore[method-assign]


def active_redirects() -> list[Redirect]:
    """The redirects currently installed, oldest first."""
    with _lock:
        return list(_active)


def _local_api(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


class Redirect:
    """One installed redirection; a context manager (see :func:`redirect`)."""

    def __init__(
        self,
        target: str,
        via: str | None = None,
        *,
        api: str | None = None,
        name: str | None = None,
    ) -> None:
        self.target = target
        self.host, self.port = parse_target(target)
        self.via = via or None
        if self.via is not None:
            parse_target(self.via, "redirect destination")
        self.api = api or "http://127.0.0.1:8474"
        self.name = name or f"redirect-{self.host}-{self.port}"
        self.hosts: frozenset[str] = frozenset()
        self.address: tuple[str, int] = ("", 0)
        self.client: Client | None = None
        self.proxy: ProxyInfo | None = None
        self.server: ServerHandle | None = None
        self._installed = False

    def start(self) -> Redirect:
        if self._installed:
            return self
        self.hosts = _resolve(self.host, self.port)
        if self.via is not None:
            self.address = parse_target(self.via, "redirect destination")
        else:
            self._start_proxy()
        _install(self)
        self._installed = True
        return self

    def _start_proxy(self) -> None:
        client = Client(self.api)
        if not client.running():
            if not _local_api(self.api):
                raise ConfigError("no proxy API answers at this URL", text=self.api)
            parts = urlsplit(client.url)
            self.server = serve(parts.hostname or "127.0.0.1", parts.port or 8474)
            client = Client(self.server.url)
        self.client = client
        try:
            self.proxy = client.ensure(self.name, f"{self.host}:{self.port}")
        except Exception:
            self._stop_server()
            raise
        self.address = self.proxy.address

    def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def stop(self) -> None:
        """Remove the redirection, the proxy it created and any server it started."""
        if not self._installed:
            return
        self._installed = False
        _uninstall(self)
        if self.proxy is not None and self.server is None:
            with contextlib.suppress(Exception):  # the external server may be gone already
                self.proxy.delete()
        self.proxy = None
        self._stop_server()

    def __enter__(self) -> Redirect:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        dest = f"{self.address[0]}:{self.address[1]}" if self.address[1] else "?"
        return f"<Redirect {self.host}:{self.port} -> {dest}>"


def redirect(
    target: str, via: str | None = None, *, api: str | None = None, name: str | None = None
) -> Redirect:
    """Route connections to ``target`` (``HOST:PORT``) through a proxy; a context manager.

    ``via``: send them to this ``HOST:PORT`` instead of creating a proxy. Otherwise the
    proxy ``name`` (default ``redirect-HOST-PORT``) is created in front of ``target`` on the
    API at ``api`` (an embedded server is started there when none answers); add toxics to
    it with any Toxiproxy client, or through ``.proxy`` (a :class:`ProxyInfo`).
    """
    return Redirect(target, via, api=api, name=name)
