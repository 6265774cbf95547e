"""URLs fit to show: a broker URL without its password."""


def redact_url(url: str) -> str:
    """`url` without the password it may carry (for /api/config, /api/stats and logs)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.partition("/")[0]:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + sep + rest
