"""A synchronous client for chaoskit's embedded server or a real Toxiproxy (same API).

Only the standard library is used (``urllib``), so the client works wherever chaoskit is
installed. Every non-2xx answer raises :class:`ApiResponseError` carrying the status and
the server's message.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from chaoskit.errors import ChaosKitError, ConfigError

__all__ = ["ApiResponseError", "Client", "ProxyInfo", "ToxicInfo"]


class ApiResponseError(ChaosKitError):
    """The proxy API answered an error: ``status`` and ``message`` are the server's."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"{url}: {status} {message}")
        self.status = status
        self.message = message
        self.url = url


@dataclass(frozen=True, slots=True)
class ToxicInfo:
    """A toxic as the server reported it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicInfo:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


class ProxyInfo:
    """A proxy on the server; methods act on it through the client that fetched it."""

    def __init__(self, client: Client, data: Mapping[str, Any]) -> None:
        self.client = client
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> None:
        self.name = str(data["name"])
        self.listen = str(data.get("listen", ""))
        self.upstream = str(data.get("upstream", ""))
        self.enabled = bool(data.get("enabled", True))
        self.toxic_list = [ToxicInfo.from_json(t) for t in data.get("toxics") or []]

    @property
    def _path(self) -> str:
        return f"/proxies/{quote(self.name, safe='')}"

    @property
    def host(self) -> str:
        host = self.listen.rpartition(":")[0]
        return host.strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def refresh(self) -> ProxyInfo:
        self._load(self.client.request("GET", self._path))
        return self

    def update(self, **fields: Any) -> ProxyInfo:
        """Change ``listen``, ``upstream`` or ``enabled`` (a changed address restarts it)."""
        self._load(self.client.request("POST", self._path, fields))
        return self

    def enable(self) -> ProxyInfo:
        return self.update(enabled=True)

    def disable(self) -> ProxyInfo:
        """Close the listener and every live connection ("down")."""
        return self.update(enabled=False)

    @contextmanager
    def down(self) -> Iterator[ProxyInfo]:
        """The proxy disabled for the duration of the block."""
        self.disable()
        try:
            yield self
        finally:
            self.enable()

    def delete(self) -> None:
        self.client.request("DELETE", self._path)

    def toxics(self) -> list[ToxicInfo]:
        return [ToxicInfo.from_json(t) for t in self.client.request("GET", f"{self._path}/toxics")]

    def add_toxic(
        self,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: float,
    ) -> ToxicInfo:
        """Add a toxic; attributes are Toxiproxy's (``latency=100`` is milliseconds)."""
        body = {
            "name": name or f"{type}_{stream}",
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        return ToxicInfo.from_json(self.client.request("POST", f"{self._path}/toxics", body))

    def update_toxic(
        self, name: str, *, toxicity: float | None = None, **attributes: float
    ) -> ToxicInfo:
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"{self._path}/toxics/{quote(name, safe='')}"
        return ToxicInfo.from_json(self.client.request("POST", path, body))

    def remove_toxic(self, name: str) -> None:
        self.client.request("DELETE", f"{self._path}/toxics/{quote(name, safe='')}")

    @contextmanager
    def toxic(self, type: str, **kwargs: Any) -> Iterator[ToxicInfo]:
        """A toxic present for the duration of the block."""
        info = self.add_toxic(type, **kwargs)
        try:
            yield info
        finally:
            self.remove_toxic(info.name)

    def __repr__(self) -> str:
        return f"<ProxyInfo {self.name} {self.listen} -> {self.upstream}>"


class Client:
    """Talks to the proxy API at ``url`` (default ``http://127.0.0.1:8474``)."""

    def __init__(self, url: str = "http://127.0.0.1:8474", *, timeout: float = 10.0) -> None:
        if "://" not in url:
            url = f"http://{url}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the proxy API URL must look like http://host:port", text=url)
        self.url = url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; the decoded JSON answer (None for 204)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw).get("error") or raw.decode(errors="replace")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise ApiResponseError(exc.code, str(message), self.url + path) from None
        except OSError as exc:
            raise ChaosKitError(f"cannot reach the proxy API at {self.url}: {exc}") from None
        if not raw:
            return None
        text = raw.decode(errors="replace")
        try:
            return json.loads(text)
        except ValueError:  # /metrics, or an older Toxiproxy's plain-text /version
            return text

    # --- server --------------------------------------------------------------------------

    def running(self) -> bool:
        parts = urlsplit(self.url)
        try:
            with socket.create_connection((parts.hostname, parts.port or 80), timeout=1.0):
                return True
        except OSError:
            return False

    def version(self) -> str:
        answer = self.request("GET", "/version")
        return str(answer["version"]) if isinstance(answer, dict) else str(answer)

    def metrics(self) -> str:
        return str(self.request("GET", "/metrics"))

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic."""
        self.request("POST", "/reset")

    # --- proxies -------------------------------------------------------------------------

    def proxies(self) -> dict[str, ProxyInfo]:
        return {
            name: ProxyInfo(self, data) for name, data in self.request("GET", "/proxies").items()
        }

    def get(self, name: str) -> ProxyInfo:
        return ProxyInfo(self, self.request("GET", f"/proxies/{quote(name, safe='')}"))

    def find(self, name: str) -> ProxyInfo | None:
        try:
            return self.get(name)
        except ApiResponseError as exc:
            if exc.status == 404:
                return None
            raise

    def create(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> ProxyInfo:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return ProxyInfo(self, self.request("POST", "/proxies", body))

    def ensure(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> ProxyInfo:
        """The proxy ``name`` in front of ``upstream``: reused if it exists, else created."""
        existing = self.find(name)
        if existing is not None and existing.upstream == upstream:
            if not existing.enabled:
                existing.enable()
            return existing
        if existing is not None:
            existing.delete()
        return self.create(name, upstream, listen)

    def populate(self, proxies: list[Mapping[str, Any]]) -> list[ProxyInfo]:
        answer = self.request("POST", "/populate", list(proxies))
        return [ProxyInfo(self, p) for p in answer["proxies"]]

    def __repr__(self) -> str:
        return f"<Client {self.url}>"
