"""The Toxiproxy-compatible HTTP API on aiohttp.

One catch-all route dispatches on the normalised path (``//`` collapsed, never
redirected), so that every answer, including 404 and 405, is Toxiproxy's JSON error
``{"error": message, "status": code}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from chaoskit.netchaos.server import VERSION, ProxyServer, decode_proxy
from chaoskit.netchaos.toxics import ApiError

__all__ = ["make_app"]

Handler = Callable[[web.Request, ProxyServer, list[str]], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message, "status": status}, status)


def _empty() -> web.Response:
    return web.Response(status=204)


async def _body(request: web.Request, required: bool = True) -> Any:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise ApiError(400, "bad request body: EOF")
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"bad request body: {exc}") from None


# --- handlers: (request, server, path parts) -> response --------------------------------


async def _list_proxies(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    return _json({name: proxy.to_json() for name, proxy in srv.proxies.items()})


async def _create_proxy(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    proxy = await srv.create(decode_proxy(await _body(request)))
    return _json(proxy.to_json(), 201)


async def _populate(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    proxies = await srv.populate(await _body(request))
    return _json({"proxies": [p.to_json() for p in proxies]}, 201)


async def _get_proxy(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    return _json(srv.get(parts[1]).to_json())


async def _update_proxy(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    srv.get(parts[1])
    proxy = await srv.update(parts[1], await _body(request))
    return _json(proxy.to_json())


async def _delete_proxy(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    await srv.delete(parts[1])
    return _empty()


async def _list_toxics(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    return _json([t.to_json() for t in srv.get(parts[1]).all_toxics()])


async def _add_toxic(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    srv.get(parts[1])
    return _json(srv.add_toxic(parts[1], await _body(request)).to_json())


async def _get_toxic(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    return _json(srv.get_toxic(parts[1], parts[3]).to_json())


async def _update_toxic(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    srv.get_toxic(parts[1], parts[3])
    return _json(srv.update_toxic(parts[1], parts[3], await _body(request)).to_json())


async def _delete_toxic(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    srv.remove_toxic(parts[1], parts[3])
    return _empty()


async def _reset(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    await srv.reset()
    return _empty()


async def _version(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    return _json({"version": VERSION})


async def _metrics(request: web.Request, srv: ProxyServer, parts: list[str]) -> web.Response:
    return web.Response(
        text=srv.metrics_text(), content_type="text/plain", charset="utf-8"
    )  # Prometheus text format 0.0.4


# pattern: path parts with "*" for a name -> {method: handler}
_ROUTES: list[tuple[tuple[str, ...], dict[str, Handler]]] = [
    (("proxies",), {"GET": _list_proxies, "POST": _create_proxy}),
    (("populate",), {"POST": _populate}),
    (("reset",), {"POST": _reset}),
    (("version",), {"GET": _version}),
    (("metrics",), {"GET": _metrics}),
    (
        ("proxies", "*"),
        {"GET": _get_proxy, "POST": _update_proxy, "PATCH": _update_proxy, "DELETE": _delete_proxy},
    ),
    (("proxies", "*", "toxics"), {"GET": _list_toxics, "POST": _add_toxic}),
    (
        ("proxies", "*", "toxics", "*"),
        {"GET": _get_toxic, "POST": _update_toxic, "PATCH": _update_toxic, "DELETE": _delete_toxic},
    ),
]


def _match(parts: list[str]) -> dict[str, Handler] | None:
    for pattern, methods in _ROUTES:
        if len(pattern) == len(parts) and all(
            p == "*" or p == part for p, part in zip(pattern, parts, strict=True)
        ):
            return methods
    return None


def make_app(srv: ProxyServer) -> web.Application:
    """The aiohttp application serving ``srv``."""

    async def dispatch(request: web.Request) -> web.StreamResponse:
        raw = request.raw_path.split("?", 1)[0]
        parts = [unquote(part) for part in raw.split("/") if part]
        methods = _match(parts)
        if methods is None:
            return _error(404, "404 page not found")
        method = "GET" if request.method == "HEAD" else request.method
        handler = methods.get(method)
        if handler is None:
            return _error(405, f"method {request.method} not allowed on {request.path}")
        try:
            return await handler(request, srv, parts)
        except ApiError as exc:
            return _error(exc.status, exc.message)
        except Exception as exc:  # never let the API die on one bad request
            srv.log.exception("netchaos.api_failed", path=request.path)
            return _error(500, f"internal error: {exc}")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
