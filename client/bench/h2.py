"""`bench h2`: bytes on the wire per request over HTTP/1.1 and over HTTP/2, through TLS.

For an https:// server that speaks both (the proxies of `make proxy`), the same
`POST /http/echo` requests go once over HTTP/1.1 and once over HTTP/2 (httpx on h2, the
python-hyper implementation; aiohttp's client speaks HTTP/1.1 only), each through the
counting relay of `bench overhead`, which sees the TLS bytes on the wire. As in `overhead`,
each is run on fresh connections with 1 and N+1 requests, so

    per request = (bytes(N+1) - bytes(1)) / N        (each direction)
    handshake   = bytes(1) - per request              (TLS, h2 SETTINGS, close)

The difference per request is mostly what HTTP/2's header compression saves: HPACK sends a
header it has sent before on the connection as an index of a byte or two, where HTTP/1.1
repeats every header line in full. TLS adds the same record overhead to both.
"""

from __future__ import annotations

import ssl
from typing import Any

from client.bench.context import BenchContext, CpuMeter
from client.bench.relayed import through
from client.bench.results import BenchResult
from client.errors import ClientError
from client.messages import text_payload
from client.relay import ByteCounts, CountingRelay

__all__ = ["VERSIONS", "run"]

VERSIONS = {"http/1.1": "HTTP/1.1", "h2": "HTTP/2"}


async def run(ctx: BenchContext) -> list[BenchResult]:
    """One row per HTTP version: http/1.1, then h2."""
    httpx = _import_httpx()
    if ctx.base.scheme != "https" or ctx.base.host is None:
        raise ClientError("h2 compares HTTP versions negotiated in TLS: give an https:// --url")
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(ctx.args.cafile)) if ctx.args.cafile else True
    )
    async with CountingRelay(ctx.base.host, ctx.base.port or 443) as relay:
        for version in ctx.args.protocols:
            try:
                ctx.results.append(await _measure(ctx, httpx, relay, version, verify))
            except ClientError as exc:
                ctx.warn(f"h2 {version}: not measured: {exc}")
    return ctx.results


def _import_httpx() -> Any:
    try:
        import h2  # noqa: F401  (httpx's HTTP/2 support)
        import httpx
    except ImportError:
        raise ClientError(
            "bench h2 needs httpx with HTTP/2: pip install 'httpx[http2]' "
            "(or pip install -e '.[client]')"
        ) from None
    return httpx


async def _measure(
    ctx: BenchContext,
    httpx: Any,
    relay: CountingRelay,
    version: str,
    verify: ssl.SSLContext | bool,
) -> BenchResult:
    n = ctx.args.count
    url = str(through(relay, ctx.base).with_path("/http/echo"))
    advance = ctx.progress.task(f"h2 {version}", n + 2)
    with CpuMeter() as meter:
        one = await _exchange(ctx, httpx, relay, url, version, verify, 1)
        advance(1)
        many = await _exchange(ctx, httpx, relay, url, version, verify, n + 1)
        advance(n + 1)
    up = (many.up - one.up) / n
    down = (many.down - one.down) / n
    return BenchResult(
        "h2",
        version,
        n,
        ctx.args.size,
        metrics={
            "up_bytes_per_msg": up,
            "down_bytes_per_msg": down,
            "handshake_bytes": round(one.up + one.down - up - down),
            "payload_bytes": ctx.args.size,
            "client_cpu_pct": ctx.check_cpu(f"h2 {version}", meter),
        },
    )


async def _exchange(
    ctx: BenchContext,
    httpx: Any,
    relay: CountingRelay,
    url: str,
    version: str,
    verify: ssl.SSLContext | bool,
    k: int,
) -> ByteCounts:
    """`k` echo requests on one fresh connection of `version`; the bytes relayed meanwhile."""
    payload = text_payload(ctx.args.size).encode()
    before = relay.counts()
    http2 = version == "h2"
    async with httpx.AsyncClient(
        http1=not http2, http2=http2, verify=verify, timeout=ctx.args.timeout
    ) as client:
        for _ in range(k):
            try:
                response = await client.post(url, content=payload)
            except httpx.HTTPError as exc:
                raise ClientError(f"{url}: {exc}") from None
            if response.http_version != VERSIONS[version]:
                raise ClientError(
                    f"the server answered in {response.http_version}, not {VERSIONS[version]}"
                    " (is --url the proxy, which offers h2?)"
                )
            if response.status_code != 200:
                raise ClientError(f"{url}: HTTP {response.status_code}")
    return relay.counts() - before
