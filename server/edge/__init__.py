"""The edge: what happens to a connection before and around the handlers.

* `protocol.py`: `GuardedRequestHandler`, each accepted connection's protocol: aiohttp's
  handler extended with the request-head deadline and the client-frame mask rule;
* `middlewares.py`: every middleware, in the one list that holds their order;
* `aiohttp_private.py`: the only code that relies on aiohttp internals (its connection
  handler's error hooks), pinned to the aiohttp minor version it is tested with;
* `site.py`: `GuardedTCPSite`, the listening socket that puts the above together.
"""
