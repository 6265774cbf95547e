"""The Origin policy, without a server: parsing, the default allow-list, DNS rebinding."""

import pytest

from server.core.origins import Origin, OriginPolicy, OriginRefused

PORT = 8080


def allowed(policy: OriginPolicy, origin: str | None, host: str = "127.0.0.1:8080") -> bool:
    try:
        policy.check(origin, scheme="http", host=host, port=PORT)
    except OriginRefused:
        return False
    return True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://example.com", Origin("http", "example.com", 80)),
        ("HTTPS://Example.COM", Origin("https", "example.com", 443)),
        ("http://127.0.0.1:8080", Origin("http", "127.0.0.1", 8080)),
        ("http://[::1]:8080", Origin("http", "::1", 8080)),
        ("https://example.com:443", Origin("https", "example.com", 443)),
        ("chrome-extension://abcdef", Origin("chrome-extension", "abcdef", None)),
    ],
)
def test_origins_are_normalised(text: str, expected: Origin) -> None:
    assert Origin.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "null",
        "example.com",
        "http://",
        "http://example.com/",
        "http://example.com/path",
        "http://example.com?q",
        "http://user@example.com",
        "http://example.com:99999",
        "http://example.com:abc",
        " http://example.com",
        "http://exa mple.com",
    ],
)
def test_anything_but_scheme_host_port_is_not_an_origin(text: str) -> None:
    with pytest.raises(ValueError, match=r"origin|port"):
        Origin.parse(text)


def test_serialised_like_a_browser_sends_it() -> None:
    assert str(Origin.parse("https://example.com:443")) == "https://example.com"
    assert str(Origin.parse("http://[::1]:8080")) == "http://[::1]:8080"


def test_requests_without_origin_are_allowed() -> None:
    assert allowed(OriginPolicy(), None)


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "https://localhost:8080",
        "http://[::1]:8080",
    ],
)
def test_localhost_on_the_server_port_is_allowed(origin: str) -> None:
    assert allowed(OriginPolicy(), origin)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://localhost:8081",  # another local program's page
        "http://127.0.0.1",
        "null",
        "garbage",
        "http://127.0.0.1:8080.evil.example",
    ],
)
def test_foreign_origins_are_refused(origin: str) -> None:
    assert not allowed(OriginPolicy(), origin)


def test_the_address_the_request_was_sent_to_is_allowed_when_it_is_an_ip() -> None:
    assert allowed(OriginPolicy(), "http://192.168.1.5:8080", host="192.168.1.5:8080")
    assert allowed(OriginPolicy(), "http://[fe80::1]:8080", host="[fe80::1]:8080")
    # Same host, other scheme or port: another origin.
    assert not allowed(OriginPolicy(), "https://192.168.1.5:8080", host="192.168.1.5:8080")


def test_dns_rebinding_host_names_are_not_trusted_by_themselves() -> None:
    # evil.example was made to resolve to 127.0.0.1: Host and Origin agree, and are foreign.
    assert not allowed(OriginPolicy(), "http://evil.example:8080", host="evil.example:8080")


def test_listed_origins_are_allowed_and_star_allows_any() -> None:
    policy = OriginPolicy.from_setting("https://lab.example.com, http://10.0.0.2:9000")
    assert allowed(policy, "https://lab.example.com")
    assert allowed(policy, "https://lab.example.com:443")
    assert allowed(policy, "http://10.0.0.2:9000")
    assert not allowed(policy, "http://lab.example.com")
    assert allowed(OriginPolicy.from_setting("*"), "http://evil.example")
    assert allowed(OriginPolicy.from_setting("*"), "null")


def test_bad_setting_is_refused_with_the_culprit() -> None:
    with pytest.raises(ValueError, match=r"'lab\.example\.com' is not an origin"):
        OriginPolicy.from_setting("https://ok.example, lab.example.com")


def test_refusal_says_how_to_allow_the_page() -> None:
    with pytest.raises(OriginRefused, match=r"--allowed-origins http://evil\.example"):
        OriginPolicy().check("http://evil.example", scheme="http", host="x", port=PORT)
