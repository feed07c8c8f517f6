"""Network injectors: toxics on a proxy in front of an upstream, and per-request chaos.

``proxy_latency("127.0.0.1:6379", "50ms")`` and friends create (or reuse) a proxy in front
of the upstream when the run starts, add their toxic, and remove it when the run stops.
They talk to ``url`` (chaoskit's ``chaoskit proxy`` or a real Toxiproxy) or, by default,
to an embedded server shared by every network injector of the process. With no
``listen`` address the code under test needs no change: its connections to the upstream
are redirected through the proxy (:func:`chaoskit.netchaos.redirect`).

:func:`network_chaos` is context chaos instead: ``ck.maybe_network_chaos(host, port)``
calls in the code under test draw a delay or a connection error from it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from chaoskit.context import IterationContext, NetworkAction, RunContext
from chaoskit.errors import ConfigError
from chaoskit.injectors.base import BaseInjector
from chaoskit.netchaos.client import ApiResponseError, Client, ProxyInfo
from chaoskit.netchaos.embedded import ServerHandle, serve
from chaoskit.netchaos.redirect import Redirect, parse_target
from chaoskit.units import parse_duration

__all__ = [
    "NetworkChaos",
    "ProxyDown",
    "ProxyToxic",
    "network_chaos",
    "proxy_bandwidth",
    "proxy_down",
    "proxy_latency",
    "proxy_reset_peer",
    "proxy_slicer",
    "proxy_timeout",
]


# --- the embedded server shared by network injectors -----------------------------------

_shared_lock = threading.Lock()
_shared: list[ServerHandle] = []
_shared_refs = 0


def _acquire_shared() -> ServerHandle:
    global _shared_refs
    with _shared_lock:
        if not _shared:
            _shared.append(serve(port=0))
        _shared_refs += 1
        return _shared[0]


def _release_shared() -> None:
    global _shared_refs
    with _shared_lock:
        _shared_refs -= 1
        if _shared_refs <= 0 and _shared:
            _shared.pop().stop()
            _shared_refs = 0


def _ms(value: float | str, what: str) -> int:
    return round(parse_duration(value, what=what) * 1000)


def _probability(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{what} must be a number between 0 and 1, got {value!r}")
    return float(value)


class _ProxyInjector(BaseInjector):
    """Creates or reuses the proxy in front of ``upstream`` for the run."""

    def __init__(
        self,
        upstream: str,
        *,
        listen: str | None = None,
        proxy: str | None = None,
        url: str | None = None,
        redirect: bool | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.upstream = upstream
        host, port = self._arg(lambda: parse_target(upstream, f"{self.kind} upstream"), ("", 0))
        if listen is not None:
            self._arg(lambda: parse_target(listen, f"{self.kind} listen"), ("", 0))
        self.listen = listen
        self.proxy_name = proxy or f"chaoskit-{host}-{port}"
        self.url = url
        self.redirect = listen is None if redirect is None else redirect
        self.proxy: ProxyInfo | None = None
        self.client: Client | None = None
        self._shared = False
        self._redirect: Redirect | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where the proxy listens (while the run is on)."""
        if self.proxy is None:
            raise RuntimeError(f"{self.name}: the proxy exists only while the run is on")
        return self.proxy.address

    def _open(self, ctx: RunContext) -> ProxyInfo:
        self.validate_config()
        try:
            if self.url is None:
                shared = _acquire_shared()
                self._shared = True
                shared.reseed(ctx.seed)  # toxicity and jitter draws follow the scenario's seed
                self.client = Client(shared.url)
            else:
                self.client = Client(self.url)
            listen = self.listen or "127.0.0.1:0"
            existing = self.client.find(self.proxy_name)
            if existing is not None and existing.upstream == self.upstream:
                self.proxy = existing if existing.enabled else existing.enable()
            else:
                self.proxy = self.client.ensure(self.proxy_name, self.upstream, listen)
            if self.redirect:
                self._redirect = Redirect(self.upstream, self.proxy.listen).start()
        except BaseException:
            self._close()  # a failed start releases the shared server and any redirect
            raise
        return self.proxy

    def _close(self) -> None:
        if self._redirect is not None:
            self._redirect.stop()
            self._redirect = None
        self.proxy = None
        if self._shared:
            self._shared = False
            _release_shared()


class ProxyToxic(_ProxyInjector):
    """One toxic on the proxy in front of ``upstream`` while the run is on."""

    kind = "proxy_toxic"
    _serial = 0
    _serial_lock = threading.Lock()

    def __init__(
        self,
        upstream: str,
        toxic_type: str,
        attributes: Mapping[str, float],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        kind: str | None = None,
        **options: Any,
    ) -> None:
        if kind is not None:
            self.kind = kind
        super().__init__(upstream, **options)
        if stream not in ("upstream", "downstream"):
            self._config_errors.append(
                ConfigError(f"{self.kind} stream must be upstream or downstream", text=stream)
            )
        self.stream = stream
        self.toxicity = self._arg(lambda: _probability(toxicity, f"{self.kind} toxicity"), 1.0)
        self.toxic_type = toxic_type
        self.attributes = dict(attributes)
        with ProxyToxic._serial_lock:
            ProxyToxic._serial += 1
            self.toxic_name = f"{self.name}-{ProxyToxic._serial}"

    def start(self, ctx: RunContext) -> None:
        proxy = self._open(ctx)
        try:
            proxy.add_toxic(
                self.toxic_type,
                name=self.toxic_name,
                stream=self.stream,
                toxicity=self.toxicity,
                **self.attributes,
            )
        except Exception:
            self._close()
            raise
        self.running = True
        attrs = " ".join(f"{k}={v}" for k, v in self.attributes.items())
        self.emit(ctx, "toxic", detail=f"{self.toxic_type} {self.stream} {attrs} on {proxy.listen}")

    def stop(self, ctx: RunContext) -> None:
        proxy = self.proxy
        try:
            if proxy is not None:
                try:
                    proxy.remove_toxic(self.toxic_name)
                except ApiResponseError as exc:
                    if exc.status != 404:
                        raise
        finally:
            self._close()
            self.running = False


class ProxyDown(_ProxyInjector):
    """The proxy disabled (connections cut and refused): for the whole run, or flapping."""

    kind = "proxy_down"

    def __init__(
        self,
        upstream: str,
        *,
        period: float | str | None = None,
        downtime: float | str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(upstream, **options)
        self.period = None if period is None else self._arg(
            lambda: parse_duration(period, what="proxy_down period"), 1.0
        )  # fmt: skip
        self.downtime = None if downtime is None else self._arg(
            lambda: parse_duration(downtime, what="proxy_down downtime"), 0.5
        )  # fmt: skip
        if (self.period is None) != (self.downtime is None):
            self._config_errors.append(ConfigError("proxy_down needs both period and downtime"))
        elif (
            self.period is not None and self.downtime is not None and (self.downtime >= self.period)
        ):
            self._config_errors.append(
                ConfigError(f"proxy_down downtime ({downtime!r}) must be shorter than period")
            )
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, ctx: RunContext) -> None:
        proxy = self._open(ctx)
        if self.period is None:
            try:
                proxy.disable()
            except BaseException:
                self._close()
                raise
            self.running = True
            self.emit(ctx, "down", detail=f"{proxy.name} {proxy.listen}")
            return
        self.running = True
        self._halt.clear()
        self._thread = threading.Thread(
            target=self._flap, args=(ctx, proxy), name=f"chaoskit-{self.name}", daemon=True
        )
        self._thread.start()

    def _flap(self, ctx: RunContext, proxy: ProxyInfo) -> None:
        assert self.period is not None and self.downtime is not None
        while not self._halt.wait(self.period - self.downtime):
            try:
                proxy.disable()
                self.emit(ctx, "down", value=self.downtime, detail=f"{proxy.name} {proxy.listen}")
                self._halt.wait(self.downtime)
                proxy.enable()
            except Exception:  # the server went away: stop flapping, never crash the run
                return

    def stop(self, ctx: RunContext) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        try:
            if self.proxy is not None:
                self.proxy.enable()
        finally:
            self._close()
            self.running = False


def proxy_latency(
    upstream: str, latency: float | str, jitter: float | str = 0, **options: Any
) -> ProxyToxic:
    """Delay data by ``latency`` (+- ``jitter``); seconds or strings like ``"50ms"``."""
    attrs = {
        "latency": _ms(latency, "proxy_latency latency"),
        "jitter": _ms(jitter, "proxy_latency jitter"),
    }
    return ProxyToxic(upstream, "latency", attrs, kind="proxy_latency", **options)


def proxy_bandwidth(upstream: str, rate: float, **options: Any) -> ProxyToxic:
    """Limit throughput to ``rate`` KB/s (1 KB = 1000 bytes)."""
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        raise ConfigError(f"proxy_bandwidth rate must be a positive number of KB/s, got {rate!r}")
    return ProxyToxic(upstream, "bandwidth", {"rate": rate}, kind="proxy_bandwidth", **options)


def proxy_timeout(upstream: str, timeout: float | str = 0, **options: Any) -> ProxyToxic:
    """Swallow all data; close the connection after ``timeout`` without data (0: never)."""
    attrs = {"timeout": _ms(timeout, "proxy_timeout timeout")}
    return ProxyToxic(upstream, "timeout", attrs, kind="proxy_timeout", **options)


def proxy_slicer(
    upstream: str,
    average_size: int,
    size_variation: int = 0,
    delay: float | str = 0,
    **options: Any,
) -> ProxyToxic:
    """Cut data into pieces of about ``average_size`` bytes, ``delay`` apart."""
    if isinstance(average_size, bool) or not isinstance(average_size, int) or average_size <= 0:
        raise ConfigError(f"proxy_slicer average_size must be a positive int, got {average_size!r}")
    if (
        isinstance(size_variation, bool)
        or not isinstance(size_variation, int)
        or size_variation < 0
    ):
        raise ConfigError(
            f"proxy_slicer size_variation must be a non-negative int, got {size_variation!r}"
        )
    attrs = {
        "average_size": average_size,
        "size_variation": size_variation,
        "delay": round(parse_duration(delay, what="proxy_slicer delay") * 1_000_000),
    }
    return ProxyToxic(upstream, "slicer", attrs, kind="proxy_slicer", **options)


def proxy_reset_peer(upstream: str, timeout: float | str = 0, **options: Any) -> ProxyToxic:
    """Reset connections (TCP RST) on their first data, after ``timeout``."""
    attrs = {"timeout": _ms(timeout, "proxy_reset_peer timeout")}
    return ProxyToxic(upstream, "reset_peer", attrs, kind="proxy_reset_peer", **options)


def proxy_down(
    upstream: str,
    *,
    period: float | str | None = None,
    downtime: float | str | None = None,
    **options: Any,
) -> ProxyDown:
    """Take the proxy down for the run, or for ``downtime`` out of every ``period``."""
    return ProxyDown(upstream, period=period, downtime=downtime, **options)


# --- per-request chaos: ck.maybe_network_chaos(host, port) ------------------------------

_ERRORS: dict[str, type[OSError]] = {
    "refused": ConnectionRefusedError,
    "reset": ConnectionResetError,
    "timeout": TimeoutError,
    "aborted": ConnectionAbortedError,
}


class NetworkChaos(BaseInjector):
    """Answers ``maybe_network_chaos(host, port)`` with a delay and/or a connection error."""

    kind = "network_chaos"

    def __init__(
        self,
        latency: float | str = 0,
        jitter: float | str = 0,
        error_rate: float = 0.0,
        *,
        error: str = "refused",
        latency_rate: float = 1.0,
        hosts: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.latency = self._arg(lambda: parse_duration(latency, what="network_chaos latency"), 0.0)
        self.jitter = self._arg(lambda: parse_duration(jitter, what="network_chaos jitter"), 0.0)
        self.error_rate = self._arg(
            lambda: _probability(error_rate, "network_chaos error_rate"), 0.0
        )
        self.latency_rate = self._arg(
            lambda: _probability(latency_rate, "network_chaos latency_rate"), 1.0
        )
        if error not in _ERRORS:
            self._config_errors.append(
                ConfigError(f"network_chaos error must be one of {', '.join(_ERRORS)}", text=error)
            )
        self.error = _ERRORS.get(error, ConnectionRefusedError)
        if isinstance(hosts, str):
            hosts = [hosts]
        self.hosts = tuple(hosts or ())

    def _matches(self, host: str, port: int) -> bool:
        if not self.hosts:
            return True
        for pattern in self.hosts:
            p_host, sep, p_port = pattern.rpartition(":")
            if not sep or not p_port.isdigit():
                p_host, p_port = pattern, ""
            if p_host in ("*", host) and (not p_port or int(p_port) == port):
                return True
        return False

    def network_chaos_for(
        self, ctx: IterationContext, host: str, port: int
    ) -> NetworkAction | None:
        if not self._matches(host, port):
            return None
        rng = ctx.rng
        delay = 0.0
        if (self.latency or self.jitter) and (
            self.latency_rate >= 1.0 or rng.random() < self.latency_rate
        ):
            delay = max(0.0, self.latency + rng.uniform(-self.jitter, self.jitter))
        failure: BaseException | None = None
        if self.error_rate and rng.random() < self.error_rate:
            failure = self.error(f"chaoskit network_chaos: connection to {host}:{port} failed")
        if not delay and failure is None:
            return None
        if delay:
            self.count("delay")
        if failure is not None:
            self.count("error")
        detail = f"{host}:{port}" + (f" {type(failure).__name__}" if failure else "")
        return NetworkAction(delay=delay, error=failure, detail=detail)


def network_chaos(
    latency: float | str = 0,
    jitter: float | str = 0,
    error_rate: float = 0.0,
    *,
    error: str = "refused",
    latency_rate: float = 1.0,
    hosts: Sequence[str] | None = None,
    name: str | None = None,
) -> NetworkChaos:
    """Per-request chaos for ``ck.maybe_network_chaos(host, port)``.

    Each call to a matching ``hosts`` entry (``"host"``, ``"host:port"``, ``"*:port"``;
    all when empty) waits ``latency`` +- ``jitter`` (with probability ``latency_rate``) and
    fails with ``error`` (refused, reset, timeout, aborted) with probability ``error_rate``.
    """
    return NetworkChaos(
        latency, jitter, error_rate, error=error, latency_rate=latency_rate, hosts=hosts, name=name
    )
