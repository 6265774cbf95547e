"""Starlette + uvicorn + sse-starlette with the benchmarked endpoints.

uvicorn runs with its defaults: uvloop when it is installed (it is, as a project dependency),
httptools when installed (it is not: h11 parses HTTP), and its access log off like the other
baselines.
"""

import asyncio
from collections.abc import AsyncIterator

import uvicorn
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from benchmarks.reference import parse_args, tick_json


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        elif message.get("bytes") is not None:
            await websocket.send_bytes(message["bytes"])


async def sse_stream(request: Request) -> EventSourceResponse:
    interval_s = int(request.query_params.get("interval", "1000")) / 1000
    size = int(request.query_params.get("size", "0"))

    async def ticks() -> AsyncIterator[dict[str, object]]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        seq = 1
        while True:
            yield {"id": str(seq), "event": "tick", "data": tick_json(seq, size)}
            # The stream's pace, from deadlines as the project keeps it; with interval=0
            # still a yield per event, so that one fast reader cannot starve the others.
            await asyncio.sleep(max(0.0, started + seq * interval_s - loop.time()))
            seq += 1

    return EventSourceResponse(ticks(), ping=15, headers={"Cache-Control": "no-cache"})


async def http_echo(request: Request) -> Response:
    content_type = request.headers.get("content-type", "application/octet-stream")
    return Response(await request.body(), headers={"Content-Type": content_type})


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        WebSocketRoute("/ws/echo", ws_echo),
        Route("/sse/stream", sse_stream),
        Route("/http/echo", http_echo, methods=["POST"]),
        Route("/healthz", healthz),
    ]
)


def main() -> None:
    args = parse_args(__doc__ or "")
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
