"""`/http/echo` and the error contract of every route: 400, 404, 405, 413 as JSON."""

import asyncio

from server import keys


async def test_get_describes_the_request(server, session) -> None:
    async with session.get(server.make_url("/http/echo?a=1&b=2&b=3")) as response:
        assert response.status == 200
        body = await response.json()
    assert body["method"] == "GET"
    assert body["query"] == {"a": "1", "b": ["2", "3"]}
    assert isinstance(body["ts"], int)


async def test_post_echoes_body_and_content_type(server, session) -> None:
    payload = b"\x00\x01 binary \xff"
    headers = {"Content-Type": "application/x-lab; charset=binary"}
    async with session.post(
        server.make_url("/http/echo"), data=payload, headers=headers
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == headers["Content-Type"]
        assert await response.read() == payload


async def test_body_over_limit_is_413(start_server, session) -> None:
    server = await start_server(http_max_body=100)
    async with session.post(server.make_url("/http/echo"), data=b"z" * 101) as response:
        assert response.status == 413
        assert "100 bytes" in (await response.json())["error"]
    async with session.post(server.make_url("/http/echo"), data=b"z" * 100) as response:
        assert response.status == 200


async def test_unknown_route_is_404_json(server, session) -> None:
    async with session.get(server.make_url("/nope")) as response:
        assert response.status == 404
        assert (await response.json())["error"] == "no such resource: /nope"


async def test_wrong_method_is_405_json_with_allow(server, session) -> None:
    async with session.delete(server.make_url("/http/echo")) as response:
        assert response.status == 405
        assert "GET" in response.headers["Allow"]
        assert "DELETE is not allowed" in (await response.json())["error"]


async def test_server_keeps_serving_after_bad_requests(server, session) -> None:
    for path in ("/nope", "/sse/stream?count=-1", "/static/../pyproject.toml"):
        async with session.get(server.make_url(path)) as response:
            assert response.status in (400, 404)
    async with session.get(server.make_url("/healthz")) as response:
        assert await response.text() == "ok"


async def test_declared_oversize_body_is_refused_before_it_is_sent(start_server) -> None:
    """A Content-Length over the limit gets 413 at once, without waiting for the body; the
    stats count bytes that arrived, not the bytes a client claimed."""
    server = await start_server(http_max_body=1000, body_timeout=30)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST /http/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")
    snapshot = server.app[keys.METRICS].snapshot()
    assert snapshot["refused"] == {"body_too_large": 1}
    assert snapshot["protocols"]["http"]["bytes_in"] == 0


async def test_every_response_reports_the_size_of_the_request_head(server) -> None:
    head = (
        b"POST /http/echo?x=1 HTTP/1.1\r\nHost: lab\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 5\r\nX-Padding: " + b"p" * 100 + b"\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head + b"hello")
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    await writer.wait_closed()
    assert f"X-Request-Head-Bytes: {len(head)}\r\n".encode() in response
