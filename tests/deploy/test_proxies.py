"""The app behind real nginx and HAProxy (deploy/), through real TLS sockets: WebSocket echo,
event streams through nginx's gzip, and idle connections across the proxy's timeout.

Idle timeouts are 2 s here (the templates take them as a parameter; 60 s in deploy), so a
connection that nothing keeps alive is cut within the test, and one the server's heartbeat
keeps alive visibly outlives it: it is still open after pings covering twice that time.
"""

import time
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from client.sse_parser import EventStreamParser, ServerSentEvent
from tests.deploy.conftest import PROXIES, Deployed, DeployFactory

IDLE_TIMEOUT_S = 2.0
HEARTBEAT_S = 0.5
EVENT_LIMIT_S = 10.0  # generous: the machine may be loaded
CUT_LIMIT_S = IDLE_TIMEOUT_S + 15.0


class EventReader:
    """Events of one stream one at a time, and every byte received so far."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.parser = EventStreamParser()
        self.pending: list[ServerSentEvent] = []
        self.received = b""

    async def next(self, limit_s: float = EVENT_LIMIT_S) -> ServerSentEvent:
        async with aiohttp.helpers.ceil_timeout(limit_s):
            while not self.pending:
                chunk = await self.response.content.readany()
                if not chunk:
                    raise AssertionError(f"the stream ended; received {self.received!r}")
                self.received += chunk
                self.pending.extend(self.parser.feed(chunk))
        return self.pending.pop(0)


def event_stream(session: aiohttp.ClientSession, deployed: Deployed, path: str) -> Any:
    """GET an event stream through the proxy (use with `async with`)."""
    return session.get(f"{deployed.url}{path}", ssl=deployed.ssl_context())


def websocket(session: aiohttp.ClientSession, deployed: Deployed, **options: Any) -> Any:
    """Open /ws/echo through the proxy (use with `async with`)."""
    url = f"{deployed.url.replace('https', 'wss')}/ws/echo"
    return session.ws_connect(url, ssl=deployed.ssl_context(), **options)


async def post(session: aiohttp.ClientSession, deployed: Deployed, room: str, text: str) -> None:
    async with session.post(
        f"{deployed.url}/http/room/{room}?via=sse",
        json={"user": "test", "text": text},
        ssl=deployed.ssl_context(),
    ) as response:
        assert response.status == 201, await response.text()


@pytest.mark.parametrize("kind", PROXIES)
async def test_websocket_echo_through_the_proxy_from_the_proxied_page(
    behind_proxy: DeployFactory, session: aiohttp.ClientSession, kind: str
) -> None:
    deployed = behind_proxy(kind)
    # The Origin a browser sends from the page at the proxy's address: accepted because the
    # proxy is trusted and says https and the Host the browser used.
    async with websocket(session, deployed, origin=deployed.url) as ws:
        await ws.send_str("through the proxy")
        assert (await ws.receive(timeout=EVENT_LIMIT_S)).data == "through the proxy"


async def test_event_stream_through_nginx_with_gzip_arrives_event_by_event(
    behind_proxy: DeployFactory, session: aiohttp.ClientSession
) -> None:
    deployed = behind_proxy("nginx", gzip=True)
    room = f"gzip-{uuid.uuid4().hex[:8]}"
    async with event_stream(session, deployed, f"/sse/room/{room}?after=0") as response:
        # The app's side of the contract, as the browser receives it through nginx.
        assert response.headers["Cache-Control"] == "no-cache, no-transform"
        assert response.headers["Content-Encoding"] == "gzip"  # compressed, yet on time:
        reader = EventReader(response)
        for text in ("one", "two", "three"):
            await post(session, deployed, room, text)
            # Each event arrives before the next is even sent: nothing waits in a buffer.
            event = await reader.next()
            assert text in event.data


async def test_a_buffering_nginx_holds_events_until_the_stream_ends(
    behind_proxy: DeployFactory, session: aiohttp.ClientSession
) -> None:
    """The pitfall (what the test above guards against): nginx told to ignore the app's
    X-Accel-Buffering delivers the event only with the end of the stream."""
    deployed = behind_proxy("nginx", ["--sse-max-lifetime", "2"], buffer_event_streams=True)
    room = f"buffered-{uuid.uuid4().hex[:8]}"
    # Posted first and replayed from history (?after=0): a buffering nginx holds back even
    # the response head, so the stream cannot be seen to open before the post.
    await post(session, deployed, room, "held back")
    async with event_stream(session, deployed, f"/sse/room/{room}?after=0") as response:
        reader = EventReader(response)
        event = await reader.next()
        assert "held back" in event.data
        tail = reader.received + response.content.read_nowait()
        assert b"stream lifetime of 2 s reached" in tail  # it came together with the end


@pytest.mark.parametrize("kind", PROXIES)
async def test_idle_websocket_outlives_the_proxy_timeout_with_a_shorter_heartbeat(
    behind_proxy: DeployFactory, session: aiohttp.ClientSession, kind: str
) -> None:
    deployed = behind_proxy(
        kind, ["--ws-heartbeat", str(HEARTBEAT_S)], idle_timeout=IDLE_TIMEOUT_S
    )
    # The test answers the server's pings itself, and counts them.
    async with websocket(session, deployed, autoping=False) as ws:
        pings, started = 0, time.monotonic()
        # Nothing but the server's pings, for twice the proxy's idle timeout.
        while time.monotonic() - started < 2 * IDLE_TIMEOUT_S:
            message = await ws.receive(timeout=EVENT_LIMIT_S)
            assert message.type is WSMsgType.PING, message
            await ws.pong(message.data)
            pings += 1
        assert pings >= 2
        await ws.send_str("still here")
        reply = await ws.receive(timeout=EVENT_LIMIT_S)
        while reply.type is WSMsgType.PING:
            await ws.pong(reply.data)
            reply = await ws.receive(timeout=EVENT_LIMIT_S)
        assert reply.data == "still here"


@pytest.mark.parametrize("kind", PROXIES)
async def test_idle_websocket_without_heartbeat_is_cut_by_the_proxy(
    behind_proxy: DeployFactory, session: aiohttp.ClientSession, kind: str
) -> None:
    deployed = behind_proxy(kind, ["--ws-heartbeat", "0"], idle_timeout=IDLE_TIMEOUT_S)
    async with websocket(session, deployed) as ws:
        started = time.monotonic()
        message = await ws.receive(timeout=CUT_LIMIT_S)
        quiet_s = time.monotonic() - started
        # Cut without a close frame from the app: the proxy closed the connection.
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR), message
        assert quiet_s >= IDLE_TIMEOUT_S * 0.9  # by the idle timeout, not by anything sooner


async def test_quiet_event_stream_is_cut_by_nginx_when_pings_are_rarer_than_its_timeout(
    behind_proxy: DeployFactory, session: aiohttp.ClientSession
) -> None:
    deployed = behind_proxy("nginx", ["--sse-ping-interval", "30"], idle_timeout=IDLE_TIMEOUT_S)
    async with event_stream(session, deployed, "/sse/room/quiet") as response:
        started = time.monotonic()
        with pytest.raises(aiohttp.ClientPayloadError):  # a truncated body: no last chunk
            async with aiohttp.helpers.ceil_timeout(CUT_LIMIT_S):
                await response.content.read()
        assert time.monotonic() - started >= IDLE_TIMEOUT_S * 0.9


@pytest.mark.parametrize("kind", PROXIES)
async def test_per_address_limit_counts_clients_not_the_proxy(
    behind_proxy: DeployFactory, session: aiohttp.ClientSession, kind: str
) -> None:
    """Two clients on two loopback addresses, one stream each allowed: the proxy's forwarded
    address (believed from it alone) tells them apart."""
    deployed = behind_proxy(kind, ["--max-connections-per-ip", "1"])
    other = aiohttp.TCPConnector(limit=0, local_addr=("127.0.0.2", 0))
    async with (
        aiohttp.ClientSession(connector=other) as other_session,
        event_stream(session, deployed, "/sse/room/limits") as first,
    ):
        assert first.status == 200
        async with event_stream(other_session, deployed, "/sse/room/limits") as second:
            assert second.status == 200  # another client: its own place
            async with event_stream(session, deployed, "/sse/room/limits") as third:
                assert third.status == 503  # the first client's second stream
                assert "your address" in (await third.json())["error"]
            abort(second)


def abort(response: aiohttp.ClientResponse) -> None:
    """End a stream on a session the `session` fixture does not own: abort, do not wait for
    the proxy's TLS close_notify (see the fixture)."""
    if response.connection is not None and response.connection.transport is not None:
        response.connection.transport.abort()
