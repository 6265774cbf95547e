"""The Origin policy: which web pages may open a WebSocket or send a POST to this server.

The attack it stops is cross-site WebSocket hijacking (CSWSH). A page from
http://evil.example runs `new WebSocket("ws://127.0.0.1:8080/ws/room/lobby")` in a
visitor's browser. The browser connects: WebSockets are not covered by the same-origin policy
or CORS, and the upgrade request carries the visitor's cookies for 127.0.0.1. The evil page
can then read the room and post in it as the visitor. What the browser does tell the server
is which page asked: the `Origin` header (RFC 6455 §4.1 item 8 and §10.2), which page scripts
cannot set. So the server checks it before the upgrade. A form POST from another site (CSRF)
is the same attack on HTTP and gets the same check.

Rules, in order:

1. No `Origin` header: allowed. Browsers send one on every WebSocket upgrade and every
   cross-origin POST, so a request without it comes from a program (curl, aiohttp, the lab's
   client) that speaks for itself and could send any Origin it liked: refusing it would
   protect nobody and break every script.
2. `*` in the allow-list: any origin is allowed.
3. `null` (sandboxed iframes, file:// pages) and malformed values: refused.
4. Allowed are the listed origins; http and https on localhost, 127.0.0.1 and [::1] at the
   server's own port; and the address the request was sent to (its `Host` header) when that
   is an IP address, so that `--host 0.0.0.0` works from another machine by IP.

A `Host` that is a *name* is not trusted on its own word: with DNS rebinding, a page from
http://evil.example:8080 makes evil.example resolve to 127.0.0.1, and its requests then
carry `Host: evil.example:8080` and `Origin: http://evil.example:8080`, which would match.
Names other than localhost must be listed with `--allowed-origins`.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from server.core.refusals import Reason, Refusal

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")


class OriginRefused(Refusal):
    """A browser page from an origin that is not allowed asked for a WebSocket or a POST."""

    status = 403
    reason = Reason.ORIGIN


@dataclass(frozen=True, slots=True)
class Origin:
    """A web origin, normalised: lower-case scheme and host, the port always explicit."""

    scheme: str
    host: str  # IPv6 addresses without brackets
    port: int | None  # None only for schemes without a default port

    @classmethod
    def parse(cls, text: str) -> "Origin":
        """Parse `scheme://host[:port]`; raises `ValueError` for anything else."""
        if not text or text != text.strip() or any(c.isspace() for c in text):
            raise ValueError(f"{text!r} is not an origin (scheme://host[:port])")
        parts = urlsplit(text)
        extra = parts.path or parts.query or parts.fragment or "@" in parts.netloc
        if extra or not _SCHEME.fullmatch(parts.scheme) or not parts.hostname:
            raise ValueError(f"{text!r} is not an origin (scheme://host[:port])")
        try:
            port = parts.port  # raises ValueError for a port out of range or not a number
        except ValueError:
            raise ValueError(f"{text!r} has an invalid port") from None
        return cls(parts.scheme, parts.hostname, port or DEFAULT_PORTS.get(parts.scheme))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is None or self.port == DEFAULT_PORTS.get(self.scheme):
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


def is_ip_address(host: str) -> bool:
    """True for an IPv4 or IPv6 literal (a name can be rebound to another address; this not)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """The allow-list of `--allowed-origins`, and the check applied to each request."""

    extra: frozenset[Origin] = frozenset()
    allow_any: bool = False

    @classmethod
    def from_setting(cls, text: str) -> "OriginPolicy":
        """`--allowed-origins`: comma-separated origins, or `*`; raises `ValueError`."""
        items = [item.strip() for item in text.split(",") if item.strip()]
        if "*" in items:
            return cls(allow_any=True)
        return cls(frozenset(Origin.parse(item) for item in items))

    def trusted(self, scheme: str, host: str | None, port: int | None) -> frozenset[Origin]:
        """Every origin allowed for a request that arrived as `scheme` with `Host: host` on
        the local `port` (the listed origins, localhost on that port, an IP-address Host)."""
        trusted = set(self.extra)
        if port is not None:
            trusted.update(Origin(s, h, port) for s in ("http", "https") for h in LOCAL_HOSTS)
        if host:
            try:
                own = Origin.parse(f"{scheme}://{host}")
            except ValueError:  # a Host header that is not host[:port]: trust nothing from it
                pass
            else:
                if is_ip_address(own.host):
                    trusted.add(own)
        return frozenset(trusted)

    def check(
        self, origin: str | None, *, scheme: str, host: str | None, port: int | None
    ) -> None:
        """Return if a request with this `Origin` header may proceed; else raise `OriginRefused`
        with a message that says how to allow it, if it is the user's own page."""
        if origin is None or self.allow_any:
            return
        try:
            parsed = Origin.parse(origin)
        except ValueError:
            shown = origin[:80]
            raise OriginRefused(
                f"Origin {shown!r} is not allowed here: cross-site requests are refused"
            ) from None
        if parsed in self.trusted(scheme, host, port):
            return
        raise OriginRefused(
            f"Origin {parsed} may not open WebSockets or send POSTs here (cross-site request "
            f"refused); if that page is yours, start the server with --allowed-origins {parsed}"
        )
