"""Protocol Lab server: WebSocket, Server-Sent Events and plain HTTP side by side.

The package face is empty on purpose: `import server.core.rooms` (pure logic) must not load
aiohttp. The app is `server.app.create_app`, its settings `server.settings.Settings`.
"""
