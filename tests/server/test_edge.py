"""The edge layer (server/edge/): the middleware order, the aiohttp internals it relies on
(pinned to the tested minor version), the access log switch and the event loop choice."""

import inspect
import logging

import aiohttp
import pytest
from aiohttp import web

from server.app import create_app
from server.edge import aiohttp_private
from server.edge.middlewares import MIDDLEWARES, edge
from server.forwarded import trust_forwarded
from server.settings import Settings, load_settings


def test_middlewares_are_listed_once_in_their_order() -> None:
    order = [trust_forwarded, edge]
    assert list(MIDDLEWARES) == order
    behind_proxy = create_app(Settings(port=0, trusted_proxies="127.0.0.1"))
    assert list(behind_proxy.middlewares) == order
    # Without a trusted proxy, trust_forwarded would only pass requests on: left out.
    order.remove(trust_forwarded)
    assert list(create_app(Settings(port=0)).middlewares) == order


def test_aiohttp_is_the_minor_version_the_private_code_was_tested_with() -> None:
    # On failure: check server/edge/aiohttp_private.py against the new aiohttp, then move
    # TESTED_AIOHTTP (and the pin in pyproject.toml).
    assert aiohttp_private.aiohttp_minor() == aiohttp_private.TESTED_AIOHTTP, aiohttp.__version__


def test_the_request_handler_hooks_we_override_still_exist() -> None:
    base = web.RequestHandler
    for name in ("handle_error", "finish_response", "log_exception"):
        ours = inspect.signature(getattr(aiohttp_private.JsonErrorRequestHandler, name))
        theirs = inspect.signature(getattr(base, name))
        assert list(ours.parameters) == list(theirs.parameters), name


async def test_request_handler_options_are_where_we_read_them() -> None:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response()

    server = web.Server(handler, keepalive_timeout=7.5)
    assert aiohttp_private.handler_options(server)["keepalive_timeout"] == 7.5


async def test_access_log_is_off_unless_asked_for(start_live_server, session, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    quiet = await start_live_server()
    async with session.get(quiet.make_url("/healthz")) as resp:
        assert resp.status == 200
    assert [r for r in caplog.records if r.name == "aiohttp.access"] == []

    logged = await start_live_server(access_log=True)
    async with session.get(logged.make_url("/healthz")) as resp:
        assert resp.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1
    assert "GET /healthz" in lines[0]


def test_loop_is_uvloop_by_default_where_it_is_installed() -> None:
    assert load_settings([], environ={}).loop == "uvloop"  # uvloop is a dependency on Linux
    assert load_settings(["--loop", "asyncio"], environ={}).loop == "asyncio"


async def test_aiohttp_current_app_middleware_is_left_out_when_served(
    start_live_server, session
) -> None:
    live = await start_live_server()
    app = live.running.runner.app
    assert app._middlewares_handlers is not None
    assert [m for m, _ in app._middlewares_handlers] == [edge]
    # Handlers still reach the app's state (request.app) and the edge still runs.
    async with session.post(live.make_url("/http/echo"), data=b"hi") as resp:
        assert resp.status == 200
        assert await resp.read() == b"hi"
        assert resp.headers["X-Request-Head-Bytes"].isdigit()
    async with session.get(live.make_url("/nowhere")) as resp:
        assert resp.status == 404
        assert "error" in await resp.json()


def test_current_app_middleware_is_kept_for_an_app_with_sub_applications() -> None:
    app = create_app(Settings(port=0))
    app.add_subapp("/sub", web.Application())
    app.freeze()
    before = app._middlewares_handlers
    aiohttp_private.skip_current_app_fix(app)
    assert app._middlewares_handlers == before


def test_frame_writer_is_where_we_read_it() -> None:
    # WsConnection sends through the prepared response's writer (aiohttp_private.frame_writer);
    # every WebSocket test sends through it, and an unprepared response has none.
    assert "send_frame" in vars(aiohttp.http_websocket.WebSocketWriter)
    response = web.WebSocketResponse()
    with pytest.raises(RuntimeError, match="not prepared"):
        aiohttp_private.frame_writer(response)
