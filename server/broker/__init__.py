"""Room brokers shared by several server processes. Imports `redis`, never aiohttp."""
