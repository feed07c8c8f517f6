"""``chaoskit proxy``: run the embedded proxy server until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import click

from chaoskit.errors import ConfigError
from chaoskit.netchaos.embedded import AsyncServer
from chaoskit.netchaos.server import make_logger

__all__ = ["proxy_command", "raise_fd_limit"]


def raise_fd_limit() -> int | None:
    """Raise this process's soft open-file limit to its hard limit; the new soft limit.

    Every proxied connection holds two sockets, so a common soft limit of 1024 would cap
    the proxy near 500 connections. Only ``chaoskit proxy`` calls this: it owns its
    process, unlike the embedded server, which leaves its host program's limits alone.
    """
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit still stops at the kernel's fs.nr_open (1 << 20 by default).
    target = 1 << 20 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return int(soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # e.g. macOS caps it at OPEN_MAX: keep what we have
        return int(soft)
    return target


async def _serve(server: AsyncServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        names = ", ".join(server.proxies.proxies) or "none yet"
        click.echo(f"chaoskit proxy: API on {server.url} (proxies: {names})")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


@click.command("proxy")
@click.option("--host", default="127.0.0.1", show_default=True, help="API listen address.")
@click.option(
    "--port",
    default=8474,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="API port (0: any).",
)
@click.option(
    "--config",
    "config",
    default=None,
    type=click.Path(dir_okay=False),
    help="JSON array of proxies to create at start (Toxiproxy's populate format).",
)
@click.option("--seed", default=None, type=int, help="Seed for toxicity and jitter draws.")
def proxy_command(host: str, port: int, config: str | None, seed: int | None) -> None:
    """Run the Toxiproxy-compatible chaos proxy until Ctrl-C or SIGTERM."""
    raise_fd_limit()
    try:
        asyncio.run(_serve(AsyncServer(host, port, config, seed=seed, log=make_logger(20))))
    except ConfigError as exc:  # a bad --config file or an unusable --host/--port
        click.echo(f"chaoskit: error: {exc}", err=True)
        sys.exit(2)  # the CLI's exit status for usage and configuration errors
    except KeyboardInterrupt:
        pass
