"""The proxy registry: what the HTTP API does, as plain async methods.

:class:`ProxyServer` owns every :class:`Proxy` and implements create, update, delete,
populate, reset and metrics with Toxiproxy's rules (see ``specs/toxiproxy-compat.md``).
It runs on one event loop; :mod:`chaoskit.netchaos.api` maps HTTP requests onto it and
:mod:`chaoskit.netchaos.embedded` runs it in a background thread for synchronous callers.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Mapping
from typing import Any

import structlog

from chaoskit import __version__ as _chaoskit_version
from chaoskit.netchaos.proxy import Proxy, split_address
from chaoskit.netchaos.toxics import ApiError, Toxic, decode_toxic, lower_keys, update_toxic

__all__ = ["VERSION", "ProxyServer", "decode_proxy"]

VERSION = f"2.12.0+chaoskit.{_chaoskit_version}"


def make_logger(level: int = 30) -> Any:
    """The server's logger: to stderr, ``level`` and above (warnings by default)."""
    return structlog.wrap_logger(
        structlog.PrintLogger(sys.stderr),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )


def _bad(message: str) -> ApiError:
    return ApiError(400, f"bad request body: {message}")


def _string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"cannot unmarshal {type(value).__name__} into field {key} of type string")
    return value


def decode_proxy(body: Any, where: str = "") -> dict[str, Any]:
    """Validate one proxy object from a request: name, listen, upstream, enabled, toxics."""
    if not isinstance(body, Mapping):
        raise _bad("expected a JSON object")
    data = lower_keys(body)
    name = _string(data, "name")
    upstream = _string(data, "upstream")
    if not name:
        raise ApiError(400, f"missing required field: name{where}")
    if not upstream:
        raise ApiError(400, f"missing required field: upstream{where}")
    listen = _string(data, "listen") or "127.0.0.1:0"
    enabled = data.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise _bad("cannot unmarshal into field enabled of type bool")
    raw_toxics = data.get("toxics")
    if raw_toxics is not None and not isinstance(raw_toxics, list):
        raise _bad("cannot unmarshal into field toxics: expected an array")
    toxics = [decode_toxic(t) for t in raw_toxics or []]
    if len({toxic.name for toxic in toxics}) < len(toxics):  # checked before any change
        raise ApiError(409, "toxic already exists")
    return {
        "name": name,
        "listen": listen,
        "upstream": upstream,
        "enabled": True if enabled is None else enabled,
        "toxics": toxics,
    }


def _same_address(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        ha, pa = split_address(a)
        hb, pb = split_address(b)
    except ValueError:
        return False
    loop_names = {"", "localhost", "127.0.0.1"}
    return pa == pb and pa != 0 and (ha == hb or (ha in loop_names and hb in loop_names))


class ProxyServer:
    """Every proxy of one chaoskit (or Toxiproxy-compatible) server."""

    def __init__(self, seed: int | None = None, log: Any = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self._creating: set[str] = set()  # names whose listener is being bound
        self.rng = random.Random(seed)
        self.log = log if log is not None else make_logger()

    # --- proxies -------------------------------------------------------------------------

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    async def create(self, spec: Mapping[str, Any]) -> Proxy:
        """Create and start a proxy from :func:`decode_proxy` output (409 if it exists)."""
        if spec["name"] in self.proxies or spec["name"] in self._creating:
            raise ApiError(409, "proxy already exists")
        proxy = Proxy(
            spec["name"], spec["listen"], spec["upstream"], enabled=spec["enabled"],
            rng=self.rng, log=self.log,
        )  # fmt: skip
        names = [toxic.name for toxic in spec.get("toxics", ())]
        if len(set(names)) < len(names):  # before binding: nothing to undo
            raise ApiError(409, "toxic already exists")
        self._creating.add(proxy.name)  # a concurrent create of that name is 409 meanwhile
        try:
            if proxy.enabled:
                await proxy.start()
        finally:
            self._creating.discard(proxy.name)
        for toxic in spec.get("toxics", ()):
            proxy.add_toxic(toxic)
        self.proxies[proxy.name] = proxy
        self.log.info("netchaos.proxy_created", proxy=proxy.name, listen=proxy.listen)
        return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        """Partial update: missing fields keep their values; listen/upstream restart it."""
        proxy = self.get(name)
        if not isinstance(body, Mapping):
            raise _bad("expected a JSON object")
        data = lower_keys(body)
        listen = _string(data, "listen")
        upstream = _string(data, "upstream")
        enabled = data.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise _bad("cannot unmarshal into field enabled of type bool")
        restart = False
        if listen and not _same_address(listen, proxy.listen):
            restart = True
        if upstream and upstream != proxy.upstream:
            restart = True
        if restart:
            old_listen, old_upstream = proxy.listen, proxy.upstream
            was_running = proxy.running
            await proxy.stop()
            proxy.listen = listen or proxy.listen
            proxy.upstream = upstream or proxy.upstream
            if proxy.enabled and enabled is not False:
                try:
                    await proxy.start()
                except ApiError:
                    # A failed bind changes nothing: the old addresses and listener are back.
                    proxy.listen, proxy.upstream = old_listen, old_upstream
                    if was_running:
                        with contextlib.suppress(ApiError):
                            await proxy.start()
                    raise
        if enabled is not None and enabled != proxy.enabled:
            if enabled:
                await proxy.start()  # a failed bind leaves the proxy disabled
            else:
                await proxy.stop()
            proxy.enabled = enabled
        elif enabled is False and proxy.running:
            await proxy.stop()
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        del self.proxies[name]
        proxy.deleted = True  # an update still binding it must not leave a listener behind
        await proxy.stop()

    async def populate(self, body: Any) -> list[Proxy]:
        """Create or replace many proxies; all entries are validated before any change."""
        if isinstance(body, Mapping) and "proxies" in lower_keys(body):
            body = lower_keys(body)["proxies"]
        if not isinstance(body, list):
            raise _bad("expected a JSON array of proxies")
        specs = [decode_proxy(entry, f" at proxy {i + 1}") for i, entry in enumerate(body)]
        result: list[Proxy] = []
        for spec in specs:
            existing = self.proxies.get(spec["name"])
            if existing is not None:
                if _same_address(spec["listen"], existing.listen) and (
                    spec["upstream"] == existing.upstream
                ):
                    result.append(existing)
                    continue
                await self.delete(spec["name"])
            result.append(await self.create(spec))
        return result

    async def reset(self) -> None:
        """Re-enable every proxy and remove every toxic; deletes nothing."""
        failure: ApiError | None = None
        for proxy in list(self.proxies.values()):
            proxy.remove_all_toxics()
        for proxy in list(self.proxies.values()):
            if not proxy.enabled or not proxy.running:
                try:
                    await proxy.start()
                except ApiError as exc:  # the others are still re-enabled
                    failure = failure or exc
                    continue
                proxy.enabled = True
        if failure is not None:
            raise failure

    async def close(self) -> None:
        """Stop every proxy (listeners and connections)."""
        for proxy in list(self.proxies.values()):
            proxy.deleted = True
            await proxy.stop()
        self.proxies.clear()

    # --- toxics ----------------------------------------------------------------------------

    def add_toxic(self, proxy_name: str, body: Any) -> Toxic:
        proxy = self.get(proxy_name)
        toxic = decode_toxic(body)
        proxy.add_toxic(toxic)
        return toxic

    def get_toxic(self, proxy_name: str, toxic_name: str) -> Toxic:
        toxic = self.get(proxy_name).find_toxic(toxic_name)
        if toxic is None:
            raise ApiError(404, "toxic not found")
        return toxic

    def update_toxic(self, proxy_name: str, toxic_name: str, body: Any) -> Toxic:
        proxy = self.get(proxy_name)
        toxic = self.get_toxic(proxy_name, toxic_name)
        new = update_toxic(toxic, body)
        proxy.replace_toxic(new)
        return new

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        self.get(proxy_name).remove_toxic(toxic_name)

    # --- metrics -------------------------------------------------------------------------

    def metrics_text(self) -> str:
        """Prometheus text exposition of bytes received and sent per proxy and direction."""
        lines: list[str] = []
        for i, kind in enumerate(("received", "sent")):
            metric = f"toxiproxy_proxy_{kind}_bytes_total"
            lines.append(f"# HELP {metric} The number of bytes {kind} by the proxy.")
            lines.append(f"# TYPE {metric} counter")
            for proxy in sorted(self.proxies.values(), key=lambda p: p.name):
                for direction, counts in proxy.counters.items():
                    labels = ",".join(
                        f'{k}="{_escape(v)}"'
                        for k, v in (
                            ("direction", direction),
                            ("listener", proxy.listen),
                            ("proxy", proxy.name),
                            ("upstream", proxy.upstream),
                        )
                    )
                    lines.append(f"{metric}{{{labels}}} {counts[i]}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
