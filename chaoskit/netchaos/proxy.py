"""One proxy: a listener in front of an upstream, its toxics and its live connections."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
from dataclasses import dataclass
from typing import Any

from chaoskit.netchaos.connection import Connection, client_factory
from chaoskit.netchaos.link import Link, Stage
from chaoskit.netchaos.stages import make_stage
from chaoskit.netchaos.toxics import CONNECT_TYPES, STREAMS, ApiError, Toxic

__all__ = ["ConnectDecision", "Proxy", "format_address", "split_address"]


def split_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) into its parts; ValueError when malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"address {text}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"address {text}: invalid port") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"address {text}: invalid port")
    return host, port


def format_address(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def _listen_host(host: str) -> str:
    """The address to bind: loopback for an empty host, IPv4 first for names."""
    if host == "":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


@dataclass(frozen=True, slots=True)
class ConnectDecision:
    delay: float = 0.0
    refuse: bool = False
    reset: bool = False


class Proxy:
    """A named proxy. All methods run on the server's event loop."""

    def __init__(
        self,
        name: str,
        listen: str,
        upstream: str,
        *,
        enabled: bool = True,
        rng: random.Random,
        log: Any,
    ) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = enabled
        self.rng = rng
        self.log = log
        self.toxics: dict[str, list[Toxic]] = {stream: [] for stream in STREAMS}
        self.connections: set[Connection] = set()
        self.counters: dict[str, list[int]] = {stream: [0, 0] for stream in STREAMS}
        self.toxic_counters: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self.deleted = False  # set by the registry: a deleted proxy never listens again

    # --- JSON ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.all_toxics()],
        }

    # --- listener ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Bind the listener and rewrite ``listen`` to the bound address (500 on failure)."""
        if self._server is not None or self.deleted:
            return
        loop = asyncio.get_running_loop()
        try:
            host, port = split_address(self.listen)
            bind_host = _listen_host(host)
            server = await loop.create_server(
                lambda: client_factory(self), bind_host, port, reuse_address=True, backlog=1024
            )
        except (OSError, ValueError) as exc:
            raise ApiError(500, f"listen tcp {self.listen}: {exc}") from None
        if self.deleted or self._server is not None:  # deleted (or started) while binding
            server.close()
            return
        sockname = server.sockets[0].getsockname()
        self.listen = format_address(str(sockname[0]), int(sockname[1]))
        self._server = server

    async def stop(self) -> None:
        """Close the listener and every live connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.close(abort=True)
        if server is not None:
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    def upstream_address(self) -> tuple[str, int]:
        return split_address(self.upstream)

    # --- toxics ----------------------------------------------------------------------------

    def all_toxics(self) -> list[Toxic]:
        return [*self.toxics["upstream"], *self.toxics["downstream"]]

    def find_toxic(self, name: str) -> Toxic | None:
        for toxic in self.all_toxics():
            if toxic.name == name:
                return toxic
        return None

    def add_toxic(self, toxic: Toxic) -> None:
        if self.find_toxic(toxic.name) is not None:
            raise ApiError(409, "toxic already exists")
        self.toxics[toxic.stream].append(toxic)
        self._restage(toxic.stream)

    def replace_toxic(self, toxic: Toxic) -> None:
        chain = self.toxics[toxic.stream]
        for i, old in enumerate(chain):
            if old.name == toxic.name:
                chain[i] = toxic
        self._restage(toxic.stream)

    def remove_toxic(self, name: str) -> None:
        toxic = self.find_toxic(name)
        if toxic is None:
            raise ApiError(404, "toxic not found")
        self.toxics[toxic.stream].remove(toxic)
        self.toxic_counters.pop(name, None)
        self._restage(toxic.stream)

    def remove_all_toxics(self) -> None:
        for stream in STREAMS:
            if self.toxics[stream]:
                self.toxics[stream] = []
                self._restage(stream)
        self.toxic_counters.clear()

    def connect_decision(self) -> ConnectDecision:
        delay, refuse, reset = 0.0, False, False
        for toxic in self.all_toxics():
            if toxic.type not in CONNECT_TYPES or self.rng.random() >= toxic.toxicity:
                continue
            if toxic.type == "slow_open":
                delay += float(toxic.attr("delay")) / 1000.0
            else:
                refuse = True
                reset = reset or bool(toxic.attr("reset"))
        return ConnectDecision(delay, refuse, reset)

    # --- live links ----------------------------------------------------------------------

    def attach_links(self, conn: Connection) -> None:
        for link in conn.links:
            self._restage_link(link)

    def _restage(self, stream: str) -> None:
        for conn in list(self.connections):
            for link in conn.links:
                if link.direction == stream and not link.closed:
                    self._restage_link(link)

    def _restage_link(self, link: Link) -> None:
        """Rebuild ``link``'s stages from the toxic list and redraw toxicity."""
        old = {stage.name: stage for stage in link.stages}
        wanted = {toxic.name for toxic in self.toxics[link.direction]}
        for name, gone in old.items():
            if name not in wanted and gone.active:
                gone.active = False
                gone.detach(removed=True)
        stages: list[Stage] = []
        started: list[Stage] = []
        for toxic in self.toxics[link.direction]:
            previous = old.get(toxic.name)
            if previous is not None and previous.toxic is toxic:
                stage = previous
            else:
                if previous is not None and previous.active:
                    previous.active = False
                    previous.detach(removed=False)
                stage = make_stage(toxic, link, self.rng)
            was = stage.active
            stage.active = self.rng.random() < toxic.toxicity
            if was and not stage.active:
                stage.detach(removed=False)
            elif stage.active and not was:
                started.append(stage)
            stages.append(stage)
        link.set_stages(stages)
        for stage in started:
            if stage.active and not link.closed:
                stage.attach()
