"""The websockets library's asyncio server with `/ws/echo` (WebSocket only).

Defaults kept (20 s pings, permessage-deflate offered but not used: the load generator does
not ask for it, as it does not with the other servers).
"""

import asyncio

from websockets.asyncio.server import ServerConnection, serve

from benchmarks.reference import parse_args


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def main() -> None:
    args = parse_args(__doc__ or "")
    async with serve(echo, args.host, args.port) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
