"""`--trusted-proxies`: who may speak for a client (server/core/forwarded.py), without I/O."""

import pytest

from server.core.forwarded import ForwardedView, TrustedProxies

PROXY = "127.0.0.1"
LOCAL = TrustedProxies.from_setting("127.0.0.1, 10.0.0.0/8")


def test_nothing_is_trusted_by_default() -> None:
    proxies = TrustedProxies.from_setting("")
    assert not proxies
    assert proxies.resolve(PROXY, ["203.0.113.7"], ["https"], ["example.org"]) is None


def test_headers_from_a_peer_that_is_not_a_proxy_are_ignored() -> None:
    assert LOCAL.resolve("203.0.113.9", ["198.51.100.1"], ["https"], ["a.example"]) is None


def test_the_proxy_speaks_for_its_client() -> None:
    view = LOCAL.resolve(PROXY, ["203.0.113.7"], ["https"], ["127.0.0.1:8443"])
    assert view == ForwardedView("203.0.113.7", "https", "127.0.0.1:8443")
    assert view.port == 8443


def test_addresses_a_client_wrote_itself_are_not_believed() -> None:
    # The client sent "X-Forwarded-For: 192.0.2.66"; nginx appended the address it saw.
    view = LOCAL.resolve(PROXY, ["192.0.2.66, 203.0.113.7"])
    assert view is not None
    assert view.remote == "203.0.113.7"


def test_trusted_hops_are_skipped_from_the_right() -> None:
    view = LOCAL.resolve(PROXY, ["203.0.113.7, 10.1.2.3", "10.9.9.9"])  # two header lines
    assert view is not None
    assert view.remote == "203.0.113.7"


def test_garbage_stops_the_walk_at_the_hop_that_forwarded_it() -> None:
    view = LOCAL.resolve(PROXY, ["not-an-address, 10.1.2.3"])
    assert view is not None
    assert view.remote == "10.1.2.3"


def test_without_x_forwarded_for_the_proxy_is_the_client() -> None:
    view = LOCAL.resolve(PROXY)
    assert view == ForwardedView(PROXY)


@pytest.mark.parametrize(
    ("proto", "host", "expected"),
    [
        (["https"], ["localhost:8443"], ("https", "localhost:8443", 8443)),
        (["http, HTTPS"], ["evil, [::1]:9443"], ("https", "[::1]:9443", 9443)),
        (["https"], ["[::1]"], ("https", "[::1]", 443)),
        (["gopher"], ["bad host/name"], (None, None, None)),
        ([], [], (None, None, None)),
    ],
)
def test_the_nearest_proxys_scheme_and_host_count(proto, host, expected) -> None:
    view = LOCAL.resolve(PROXY, [], proto, host)
    assert view is not None
    assert (view.scheme, view.host, view.port) == expected


@pytest.mark.parametrize("setting", ["localhost", "10.0.0.0/33", "127.0.0.1, nginx"])
def test_a_setting_that_is_not_addresses_is_refused_with_its_entry(setting) -> None:
    with pytest.raises(ValueError, match="is not an IP address or network"):
        TrustedProxies.from_setting(setting)


def test_ipv6_proxies() -> None:
    proxies = TrustedProxies.from_setting("::1")
    view = proxies.resolve("::1", ["2001:db8::5"])
    assert view is not None
    assert view.remote == "2001:db8::5"
