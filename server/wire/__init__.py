"""The connection layer: one object per live connection and protocol.

`ws.WsConnection` and `sse.EventStream` own what every handler of their protocol would
otherwise repeat: admission (the connection limits), metrics, the idle and send deadlines,
the size check, close-or-abort, and how a `server.core.refusals.Refusal` ends the connection.
The handlers in `server/handlers/` keep only the conversation.

Deadlines cost nothing per message here: each connection has at most one timer of its own,
moved lazily (as aiohttp moves its heartbeat), and a write gets a deadline only when it can
block at all, i.e. when the socket's write buffer could pass its high-water mark.
"""
