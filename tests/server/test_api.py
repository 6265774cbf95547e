"""`/api/stats`, `/api/config`, `/healthz` and the static page."""

import asyncio


async def test_stats_count_messages_and_bytes_per_protocol(server, session) -> None:
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        await ws.send_str("12345")
        await ws.receive_str(timeout=5)
        async with session.get(server.make_url("/api/stats")) as response:
            during = await response.json()
    async with session.post(server.make_url("/http/echo"), data=b"abc") as response:
        await response.read()
    async with session.get(server.make_url("/api/stats")) as response:
        after = await response.json()
    assert during["protocols"]["ws"]["open"] == 1
    assert during["live_connections"] == 1
    ws_counts = after["protocols"]["ws"]
    assert (ws_counts["messages_in"], ws_counts["bytes_in"], ws_counts["bytes_out"]) == (1, 5, 5)
    assert ws_counts["open"] == 0
    assert after["protocols"]["http"]["bytes_in"] == 3
    # Uptime is counted from this server's start (not the epoch, not another clock): it grows,
    # and a server started within this test is not an hour old.
    assert 0 <= during["uptime_s"] <= after["uptime_s"] < 3600


async def test_config_shows_every_protocol_knob(start_server, session) -> None:
    server = await start_server(ws_heartbeat=7.5, ws_compress=False, sse_send_timeout=3)
    async with session.get(server.make_url("/api/config")) as response:
        config = await response.json()
    assert config["ws_heartbeat"] == 7.5
    assert config["ws_compress"] is False
    assert config["sse_send_timeout"] == 3
    for knob in ("ws_max_size", "sse_ping_interval", "http_max_body", "max_connections"):
        assert knob in config
    assert config["port"] == server.port  # started with --port 0: the port actually bound


async def test_healthz(server, session) -> None:
    async with session.get(server.make_url("/healthz")) as response:
        assert (response.status, await response.text()) == (200, "ok")


async def test_index_is_the_page(server, session) -> None:
    async with session.get(server.make_url("/")) as response:
        assert response.status == 200
        assert "<title>Protocol Lab" in await response.text()


async def test_no_path_traversal_out_of_static(server) -> None:
    # A raw request: client libraries normalise "../" away before sending.
    reader, writer = await asyncio.open_connection(server.host, server.port)
    for path in (
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/..%2fpyproject.toml",
    ):
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert not head.startswith(b"HTTP/1.1 200"), path
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        assert b"protocol-lab" not in body
    writer.close()
    await writer.wait_closed()


async def _raw_exchange(server, requests: bytes, responses: int) -> list[bytes]:
    """Send pipelined requests on one connection; the heads of the first `responses` answers
    (with their bodies), or fewer if the server closed the connection first."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(requests)
    answers: list[bytes] = []
    try:
        for _ in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            is_head = requests.startswith(b"HEAD") and not answers
            answers.append(head + (b"" if is_head else await reader.readexactly(length)))
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()
    return answers


async def test_missing_static_file_is_a_json_404(server, session, caplog) -> None:
    for path in ("/static/nope.js", "/static/css", "/static/....//pyproject.toml"):
        async with session.get(server.make_url(path)) as response:
            assert response.status == 404, path
            assert (await response.json())["error"].startswith("no such resource"), path
    async with session.get(server.make_url("/static/css/main.css")) as response:
        assert response.status == 200
        assert "Protocol Lab" in await response.text()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_head_and_ranges_of_page_files_keep_the_connection(server, caplog) -> None:
    """A HEAD or a range of a page file is answered once, and the next request on the same
    connection is served (aiohttp used to prepare the file twice, log an error and cut)."""
    for first in (
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /static/css/main.css HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n",
        b"GET /static/css/main.css HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        answers = await _raw_exchange(
            server, first + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", responses=2
        )
        assert len(answers) == 2, first
        assert answers[1].startswith(b"HTTP/1.1 200"), first
        assert answers[1].endswith(b"ok"), first
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_docs_are_served_read_only_as_text(server, session) -> None:
    async with session.get(server.make_url("/docs/api.md")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert (await response.text()).startswith("# API reference")
    async with session.get(server.make_url("/docs/img/page.png")) as response:
        assert response.headers["Content-Type"] == "image/png"
    async with session.post(server.make_url("/docs/api.md")) as response:
        assert response.status == 405


async def test_no_path_traversal_out_of_docs(server) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    for path in (
        "/docs/../server/app.py",
        "/docs/%2e%2e/server/app.py",
        "/docs/labs",
        "/docs/nope.md",
    ):
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 404"), (path, head)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert b"error" in await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()


async def test_favicon_is_served_where_browsers_look_for_it(server, session) -> None:
    async with session.get(server.make_url("/favicon.ico")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert (await response.read()).lstrip().startswith(b"<svg")
