"""`HubBase`: both room hubs check their sizes the same way, before they open anything.

Constructing a `RedisHub` opens no connection (redis-py connects on the first command, and
the sizes are checked before its clients exist), so these tests need no redis-server.
"""

import re
from collections.abc import Callable

import pytest

from server.broker.redis_hub import RedisHub
from server.core.rooms import HubBase, InMemoryHub

NOWHERE = "redis://127.0.0.1:9/0"  # never contacted: these hubs are never started


def memory_hub(history_size: int, queue_size: int, max_rooms: int) -> HubBase:
    return InMemoryHub(history_size=history_size, queue_size=queue_size, max_rooms=max_rooms)


def redis_hub(history_size: int, queue_size: int, max_rooms: int) -> HubBase:
    return RedisHub(NOWHERE, history_size=history_size, queue_size=queue_size, max_rooms=max_rooms)


HubMaker = Callable[[int, int, int], HubBase]
HUBS = pytest.mark.parametrize("make_hub", [memory_hub, redis_hub], ids=["memory", "redis"])


@HUBS
@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ((-1, 256, 1000), "history_size must be >= 0, got -1"),
        ((1000, 0, 1000), "queue_size must be >= 1, got 0"),
        ((1000, 256, 0), "max_rooms must be >= 1, got 0"),
    ],
    ids=["history_size", "queue_size", "max_rooms"],
)
def test_bad_size_is_refused(
    make_hub: HubMaker, sizes: tuple[int, int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_hub(*sizes)


@HUBS
def test_smallest_sizes_are_accepted_and_shown(make_hub: HubMaker) -> None:
    hub = make_hub(0, 1, 1)
    assert (hub.history_size, hub.queue_size, hub.max_rooms) == (0, 1, 1)
    assert not hub.closed
    assert set(hub.dropped_total.values()) == {0}
