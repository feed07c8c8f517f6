"""Network chaos: an embedded TCP chaos proxy with a Toxiproxy-compatible HTTP API.

``serve()`` runs the server in-process (``chaoskit proxy`` from the command line),
``Client(url)`` drives it or a real Toxiproxy, and ``redirect()`` sends a program's
connections to ``HOST:PORT`` through a proxy without changing its code.
"""

from __future__ import annotations

from chaoskit.netchaos.client import ApiResponseError, Client, ProxyInfo, ToxicInfo
from chaoskit.netchaos.embedded import AsyncServer, ServerHandle, load_config, serve
from chaoskit.netchaos.redirect import Redirect, active_redirects, redirect
from chaoskit.netchaos.server import VERSION, ProxyServer
from chaoskit.netchaos.toxics import TOXIC_TYPES, Toxic

__all__ = [
    "TOXIC_TYPES",
    "VERSION",
    "ApiResponseError",
    "AsyncServer",
    "Client",
    "ProxyInfo",
    "ProxyServer",
    "Redirect",
    "ServerHandle",
    "Toxic",
    "ToxicInfo",
    "active_redirects",
    "load_config",
    "redirect",
    "serve",
]
