"""Introspection: `/api/stats`, `/api/config`, `/healthz`; the page at `/` and `/static/`,
and the docs at `/docs/`."""

from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict

from server import keys


async def stats(request: web.Request) -> web.Response:
    """Per-protocol counters, refusals by reason, and uptime; which process answered, and
    the health of the room hub (the broker)."""
    snapshot = request.app[keys.METRICS].snapshot()
    snapshot["live_connections"] = len(request.app[keys.LIVE_CONNECTIONS])
    snapshot["process"] = request.app[keys.PROCESS].to_json()
    snapshot["broker"] = request.app[keys.HUB].health()
    return web.json_response(snapshot)


async def config(request: web.Request) -> web.Response:
    """Every setting the server runs with, so a lab can see which knobs are turned.

    `port` is the port actually bound, also when the server was started with `--port 0`.
    """
    public = request.app[keys.SETTINGS].public
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if public.get("port") == 0 and isinstance(sockname, tuple):
        public["port"] = sockname[1]
    return web.json_response(public)


async def rooms(request: web.Request) -> web.Response:
    """Every room with its last id, history size and subscribers per protocol."""
    infos = await request.app[keys.HUB].rooms()
    return web.json_response({"rooms": [info.to_json() for info in infos]})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 `ok` while the server serves requests."""
    return web.Response(text="ok")


async def no_netem(request: web.Request) -> web.Response:
    """`/_netem` reached the server, so no shaping proxy is in the path (`python -m client
    netem` answers this path itself). A 200, so the page can ask without a console error."""
    return web.json_response({"proxy": None})


class PageFile(web.FileResponse):
    """A file of the page, sent once.

    `server.edge.middlewares.write_in_time` sends files itself, and aiohttp then prepares
    the returned response again. `web.FileResponse.prepare` is not idempotent: it opens the file
    again and fails (an error with a traceback in the log, and the keep-alive connection cut)
    on a HEAD, a range or a missing file. Here a second prepare is a no-op, as for every
    other response.
    """

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        """Send the file, unless it has been sent already."""
        if self.prepared:
            return None
        return await super().prepare(without_foreign_range(request))


def without_foreign_range(request: web.BaseRequest) -> web.BaseRequest:
    """The request, without a `Range` in a unit other than bytes.

    RFC 9110 §14.2: "An origin server MUST ignore a Range header field that contains a range
    unit it does not understand" (the answer is 200 and the whole file); aiohttp answers 416.
    """
    value = request.headers.get(hdrs.RANGE)
    if value is None or value.lstrip().lower().startswith("bytes="):
        return request
    headers = CIMultiDict(request.headers)
    del headers[hdrs.RANGE]
    return request.clone(headers=headers)


async def index(request: web.Request) -> web.FileResponse:
    """The comparison page."""
    return PageFile(request.app[keys.SETTINGS].static_dir / "index.html")


async def favicon(request: web.Request) -> web.FileResponse:
    """The page's icon, also where browsers look for it unasked (e.g. on the text of a doc)."""
    icon = request.app[keys.SETTINGS].static_dir / "favicon.svg"
    return PageFile(file_under(icon.parent, icon.name), headers={"Content-Type": "image/svg+xml"})


async def static_file(request: web.Request) -> web.FileResponse:
    """A file under `--static-dir` (see `file_under`)."""
    return PageFile(file_under(request.app[keys.SETTINGS].static_dir, request.match_info["path"]))


async def doc_file(request: web.Request) -> web.FileResponse:
    """A file under `--docs-dir`: the guide, the API reference and the labs, read-only.

    Markdown goes out as plain text, which every browser shows instead of downloading.
    """
    path = file_under(request.app[keys.SETTINGS].docs_dir, request.match_info["path"])
    headers = {"Content-Type": "text/plain; charset=utf-8"} if path.suffix == ".md" else None
    return PageFile(path, headers=headers)


def file_under(folder: Path, wanted: str) -> Path:
    """The file `wanted` inside `folder`; a JSON 404 for a folder, a missing file, or a path
    that leaves the folder (`..`, an absolute path, a symlink pointing out)."""
    root = folder.resolve()
    try:
        path = (root / wanted).resolve()
        found = path.is_relative_to(root) and path.is_file()
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        found = False
    if not found:
        raise web.HTTPNotFound()
    return path
