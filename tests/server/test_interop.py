"""Independent client libraries against the contract: `websockets` and `httpx-sse`.

Our own client shares assumptions with the server; these libraries do not.
"""

import json

import httpx
import pytest
import websockets
from httpx_sse import aconnect_sse


async def test_websockets_library_echo_with_compression(server) -> None:
    url = f"ws://{server.host}:{server.port}/ws/echo"
    async with websockets.connect(url, compression="deflate") as ws:
        assert ws.response is not None  # set once the handshake is done
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in extensions
        await ws.send("ünïcode " * 100)
        assert await ws.recv() == "ünïcode " * 100
        await ws.send(b"\x00\xff" * 1000)
        assert await ws.recv() == b"\x00\xff" * 1000


async def test_websockets_library_sees_1009_for_oversize(start_server) -> None:
    server = await start_server(ws_max_size=100)
    url = f"ws://{server.host}:{server.port}/ws/echo"
    async with websockets.connect(url) as ws:
        await ws.send("x" * 101)
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_httpx_sse_reads_ticks_and_resumes(server) -> None:
    base = f"http://{server.host}:{server.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with aconnect_sse(client, "GET", "/sse/stream?count=4&interval=0") as source:
            # httpx-sse also yields the opening `retry:` block as an empty event; a
            # browser's EventSource dispatches nothing for it (WHATWG: empty data buffer).
            events = [event async for event in source.aiter_sse() if event.data]
        assert [e.id for e in events] == ["1", "2", "3", "4"]
        assert {e.event for e in events} == {"tick"}
        assert json.loads(events[0].data)["seq"] == 1
        headers = {"Last-Event-ID": "2"}
        async with aconnect_sse(
            client, "GET", "/sse/stream?count=4&interval=0", headers=headers
        ) as source:
            resumed = [event.id async for event in source.aiter_sse() if event.data]
        assert resumed == ["3", "4"]
