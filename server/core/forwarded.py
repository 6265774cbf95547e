"""Who really sent a request that a reverse proxy forwarded: `--trusted-proxies`.

Behind nginx or HAProxy every request reaches the app from the proxy's address, over plain
http, with whatever `Host` the proxy chose. The proxy says what it received in headers:
`X-Forwarded-For` (the client addresses, one per hop, the nearest last), `X-Forwarded-Proto`
(`https`) and `X-Forwarded-Host` (the `Host`, or HTTP/2 `:authority`, the browser sent). Without
them the Origin check refuses the page's own WebSocket (it sees `http://` and the wrong host)
and the per-address limits put every client in one bucket: the proxy's.

But any client can send those headers too. So they are believed only when the TCP peer is a
listed proxy, and `X-Forwarded-For` is read from the right: each hop appends the address it
saw, so the entries added by trusted proxies are at the end, and the first address from the
right that is not a trusted proxy is the client. Whatever lies to the left of it was written
by the client itself and is ignored. An entry that is not an IP address (a client wrote
garbage and the proxy appended to it) stops the walk: the client is then the hop that
forwarded it, the nearest address known for sure.

`X-Forwarded-Proto` and `-Host` may hold one value per hop as well; the last one is the word
of the proxy that talked to us. Values that are not `http`/`https` or a `host[:port]` are
ignored (the request keeps what the socket says). RFC 7239 `Forwarded` is not read: the
configurations in deploy/ send the `X-Forwarded-*` family, which both proxies support.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = frozenset({"http", "https"})
# host[:port] as in a Host header (RFC 9110 §7.2): a name or IPv4 address, or [IPv6].
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class ForwardedView:
    """The request as the client sent it to the proxy; None fields: keep the socket's."""

    remote: str
    scheme: str | None = None
    host: str | None = None

    @property
    def port(self) -> int | None:
        """The port in `host`, or the default port of `scheme`; None if neither is known."""
        if self.host is not None:
            _, colon, port = self.host.rpartition(":")
            if colon and port.isdigit() and not self.host.endswith("]"):
                return int(port)
        return {"http": 80, "https": 443}.get(self.scheme or "")


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The proxies whose `X-Forwarded-*` headers are believed (none by default)."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_setting(cls, text: str) -> TrustedProxies:
        """`--trusted-proxies`: comma-separated addresses or networks (`127.0.0.1`,
        `10.0.0.0/8`, `::1`); raises `ValueError` naming the entry that is neither."""
        networks = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
                ) from None
        return cls(tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        """True if `address` (an IP address as text) belongs to a listed proxy."""
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)

    def resolve(
        self,
        peer: str | None,
        forwarded_for: Iterable[str] = (),
        proto: Iterable[str] = (),
        host: Iterable[str] = (),
    ) -> ForwardedView | None:
        """What the proxy says about a request from `peer`, or None if `peer` is not a
        trusted proxy (then the headers are the client's own words and are ignored).

        Each argument takes every line of its header, in order (a header may be repeated).
        """
        if peer is None or not self.trusts(peer):
            return None
        return ForwardedView(
            remote=self._client(peer, _entries(forwarded_for)),
            scheme=_last_scheme(_entries(proto)),
            host=_last_host(_entries(host)),
        )

    def _client(self, peer: str, hops: Sequence[str]) -> str:
        client = peer
        for entry in reversed(hops):
            if _ip(entry) is None:
                break  # not an address: nothing to its left can be believed either
            client = entry
            if not self.trusts(entry):
                break
        return client


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text or "")
    except ValueError:
        return None


def _entries(lines: Iterable[str]) -> list[str]:
    """`a, b` on one line and `a` then `b` on two lines are the same list (RFC 9110 §5.3)."""
    return [item.strip() for line in lines for item in line.split(",") if item.strip()]


def _last_scheme(values: Sequence[str]) -> str | None:
    if not values:
        return None
    scheme = values[-1].lower()
    return scheme if scheme in SCHEMES else None


def _last_host(values: Sequence[str]) -> str | None:
    if not values or not _HOST.fullmatch(values[-1]):
        return None
    return values[-1]
