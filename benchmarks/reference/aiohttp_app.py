"""Bare aiohttp with the benchmarked endpoints: the baseline the project is held to.

Run with the default asyncio loop, or `--loop uvloop`. No middleware, no limits, no metrics;
aiohttp's access log stays off because logging is never configured (its logger is not
enabled for INFO, so aiohttp skips formatting the line).
"""

import asyncio

from aiohttp import WSMsgType, web

from benchmarks.reference import parse_args, sse_event


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def sse_stream(request: web.Request) -> web.StreamResponse:
    interval_s = int(request.query.get("interval", "1000")) / 1000
    size = int(request.query.get("size", "0"))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\r\n\r\n")
    loop = asyncio.get_running_loop()
    started = loop.time()
    seq = 1
    while True:
        await response.write(sse_event(seq, size))
        # The stream's pace, from deadlines as the project keeps it (so that both send the
        # same events at a paced load); with interval=0 still a yield per event, as the
        # project does, so that one fast reader cannot starve every other connection.
        await asyncio.sleep(max(0.0, started + seq * interval_s - loop.time()))
        seq += 1


async def http_echo(request: web.Request) -> web.Response:
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return web.Response(body=await request.read(), headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/ws/echo", ws_echo),
            web.get("/sse/stream", sse_stream),
            web.post("/http/echo", http_echo),
            web.get("/healthz", healthz),
        ]
    )
    return app


def main() -> None:
    args = parse_args(__doc__ or "", loops=True)
    if args.loop == "uvloop":
        import uvloop

        web.run_app(create_app(), host=args.host, port=args.port, loop=uvloop.new_event_loop())
    else:
        web.run_app(create_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
