"""WebSocket close codes: which ones a peer may send, and how we answer a close (RFC 6455 §7.4)."""

# §7.4.1 defines 1000-1003 and 1007-1011; 1012-1014 were added to the IANA registry later.
# 1004 is reserved, and 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
# control frame by an endpoint" (§7.4.1): they only describe a close to the local API.
_DEFINED = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})
# §7.4.2: 3000-3999 are for libraries and frameworks, 4000-4999 for private use.
_APPLICATION = range(3000, 5000)

NORMAL = 1000
PROTOCOL_ERROR = 1002


def is_sendable(code: int) -> bool:
    """True if a peer may put `code` in a Close frame."""
    return code in _DEFINED or code in _APPLICATION


def reply_to_close(code: int) -> int:
    """The code to answer a peer's Close frame with.

    A Close without a status code (reported as 0) is answered with 1000; a valid code is
    echoed, as §5.5.1 suggests; a code no endpoint may send is a protocol error, 1002.
    """
    if code == 0:
        return NORMAL
    return code if is_sendable(code) else PROTOCOL_ERROR
