"""Running the embedded server: in the caller's event loop or in a background thread.

``async with AsyncServer(...)`` serves on the running loop; :func:`serve` starts a
:class:`ServerHandle` whose loop runs in a daemon thread, for synchronous callers. Both stop
everything they started (API listener, proxy listeners, live connections, the thread) on
exit, also when the body raised.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from chaoskit.errors import ConfigError
from chaoskit.netchaos.api import make_app
from chaoskit.netchaos.proxy import format_address
from chaoskit.netchaos.server import ProxyServer
from chaoskit.netchaos.toxics import ApiError

__all__ = ["AsyncServer", "ServerHandle", "load_config", "serve"]

T = TypeVar("T")


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still running on ``loop`` (connection pumps, dials) and let it finish."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def load_config(path: str | Path) -> list[Any]:
    """Read a populate file: a JSON array of proxies (or ``{"proxies": [...]}``)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read proxy config: {exc.strerror}", source=source) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"proxy config is not valid JSON: {exc}", source=source) from None
    if isinstance(data, dict) and isinstance(data.get("proxies"), list):
        data = data["proxies"]
    if not isinstance(data, list):
        raise ConfigError("proxy config must be a JSON array of proxies", source=source)
    return data


class AsyncServer:
    """The embedded server on the running event loop (``async with AsyncServer(): ...``)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        config: str | Path | list[Any] | None = None,
        *,
        seed: int | None = None,
        log: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.config = config
        self.proxies = ProxyServer(seed=seed, log=log)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{format_address(self.host, self.port)}"

    async def start(self) -> AsyncServer:
        entries = load_config(self.config) if isinstance(self.config, str | Path) else None
        if isinstance(self.config, list):
            entries = self.config
        runner = web.AppRunner(make_app(self.proxies), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            where = format_address(self.host, self.port)
            raise ConfigError(f"cannot listen on {where}: {exc.strerror}", text=where) from None
        self._runner = runner
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
        if entries is not None:
            try:
                await self.proxies.populate(entries)
            except ApiError as exc:
                await self.stop()
                raise ConfigError(
                    f"bad proxy config: {exc.message}", source=str(self.config)[:200]
                ) from None
        return self

    async def stop(self) -> None:
        await self.proxies.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> AsyncServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class ServerHandle:
    """The embedded server running its own event loop in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        config: str | Path | list[Any] | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        self.server = AsyncServer(host, port, config, seed=seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the server is not running")
        return self._loop

    def start(self) -> ServerHandle:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                self._loop = None
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.server.stop())
                _cancel_pending(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                self._stopped.set()

        self._thread = threading.Thread(target=run, name="chaoskit-netchaos", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run ``fn()`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    def reseed(self, seed: int | None) -> None:
        """Restart the toxicity and jitter draws from ``seed`` (a scenario's, say).

        A server shared by several users is started once; whoever needs reproducible
        draws reseeds it instead of starting a server of their own.
        """

        async def apply() -> None:
            self.server.proxies.rng.seed(seed)

        self.call(apply)

    def stop(self) -> None:
        """Stop listeners, connections and the thread; safe to call twice."""
        thread, self._thread = self._thread, None
        loop = self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30.0)
        self._loop = None

    def __enter__(self) -> ServerHandle:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
        return f"<ServerHandle {self.url} {state}>"


def serve(
    host: str = "127.0.0.1",
    port: int = 8474,
    config: str | Path | list[Any] | None = None,
    *,
    seed: int | None = None,
) -> ServerHandle:
    """Start the embedded server in a background thread; use the handle to stop it.

    ``port=0`` picks a free port (``handle.url`` tells which). ``config`` is a populate
    file (JSON array of proxies) or the list itself. Also a context manager::

        with chaoskit.netchaos.serve(port=0) as server:
            client = chaoskit.netchaos.Client(server.url)
    """
    return ServerHandle(host, port, config, seed=seed).start()
