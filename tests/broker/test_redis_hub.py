"""`RedisHub` against a real redis-server: two hubs in one test stand for two processes.

Each hub has its own connections, so what one publishes reaches the other only through
Redis. Waits are on hub events with deadlines (`GUARD`), never on sleeps.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from server.broker.redis_hub import READER_NAME, RedisHub
from server.core.cursors import Cursor
from server.core.notices import Notice, NoticeKind
from server.core.protocols import WireProtocol
from server.core.rooms import (
    BrokerUnavailable,
    Delivery,
    DropReason,
    HubClosed,
    LocalRoom,
    RoomHub,
    RoomLimitReached,
    RoomMessage,
    SubscriberDropped,
    Subscription,
)
from tests.broker.redis_server import NOT_INSTALLED, REDIS_SERVER, RedisServer
from tests.waiting import eventually

GUARD = 10.0  # seconds; only reached if something is broken
WS, SSE = WireProtocol.WS, WireProtocol.SSE
HubFactory = Callable[..., Awaitable[RedisHub]]


@pytest.fixture
async def make_hub(redis_server: RedisServer) -> AsyncIterator[HubFactory]:
    """Started hubs on the test's Redis, closed after the test."""
    hubs: list[RedisHub] = []

    async def make(**options: object) -> RedisHub:
        hub = RedisHub(redis_server.url, **options)  # type: ignore[arg-type]
        await hub.start()
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


async def next_item(sub: Subscription) -> Delivery:
    return await asyncio.wait_for(sub.next(), GUARD)


async def next_message(sub: Subscription) -> RoomMessage:
    item = await next_item(sub)
    assert isinstance(item, RoomMessage), item
    return item


async def publish(hub: RedisHub, room: str, *texts: str) -> list[RoomMessage]:
    return [await hub.publish(room, "ann", text, WS) for text in texts]


async def test_redis_hub_satisfies_protocol(make_hub: HubFactory) -> None:
    assert isinstance(await make_hub(), RoomHub)


async def test_two_processes_share_one_ordered_room(make_hub: HubFactory) -> None:
    a, b = await make_hub(), await make_hub()
    sub_a, _ = await a.subscribe("lobby", WS)
    sub_b, _ = await b.subscribe("lobby", SSE)
    sent = []
    for index in range(6):  # alternate publishers: ids stay one sequence
        sent.append(await (a if index % 2 else b).publish("lobby", "ann", f"m{index}", WS))
    assert [m.id for m in sent] == [1, 2, 3, 4, 5, 6]
    for sub in (sub_a, sub_b):  # everyone, publisher included, gets each message once
        got = [await next_message(sub) for _ in range(6)]
        assert [(m.id, m.text) for m in got] == [(m.id, m.text) for m in sent]
        assert sub.pending == 0
    assert {m.epoch for m in sent} == {sent[0].epoch}


async def test_resume_on_another_process_has_no_gap_and_no_duplicate(
    make_hub: HubFactory,
) -> None:
    a, b = await make_hub(), await make_hub()
    sent = await publish(a, "lobby", "1", "2", "3", "4")
    sub, replay = await b.subscribe("lobby", SSE, after=sent[1].cursor)
    assert ([m.id for m in replay.messages], replay.lost, replay.reset) == ([3, 4], 0, False)
    later = await publish(a, "lobby", "5")
    assert (await next_message(sub)).id == later[0].id
    assert sub.pending == 0


async def test_subscribing_while_messages_flow_misses_and_repeats_nothing(
    make_hub: HubFactory,
) -> None:
    a, b = await make_hub(), await make_hub()
    await publish(a, "lobby", "0")
    flowing = asyncio.create_task(publish(a, "lobby", *[str(i) for i in range(1, 60)]))
    sub, replay = await b.subscribe("lobby", SSE, after=Cursor(0))
    sent = await asyncio.wait_for(flowing, GUARD)
    seen = [m.id for m in replay.messages]
    while not seen or seen[-1] < sent[-1].id:
        seen.append((await next_message(sub)).id)
    assert seen == list(range(1, 61))


async def test_history_is_capped_and_old_cursors_get_a_gap(make_hub: HubFactory) -> None:
    hub = await make_hub(history_size=5)
    sent = await publish(hub, "lobby", *[str(i) for i in range(12)])
    replay = await hub.since("lobby", sent[2].cursor)
    assert ([m.id for m in replay.messages], replay.lost) == ([8, 9, 10, 11, 12], 4)
    assert [n.kind for n in replay.notices()] == [NoticeKind.GAP]
    info = (await hub.rooms())[0]
    assert (info.name, info.last_id, info.history_size) == ("lobby", 12, 5)


async def test_cursor_from_another_epoch_is_reset(make_hub: HubFactory) -> None:
    hub = await make_hub()
    sent = await publish(hub, "lobby", "a", "b")
    replay = await hub.since("lobby", Cursor(9, "0ld"))
    assert replay.reset
    assert [m.id for m in replay.messages] == [1, 2]
    assert replay.position == sent[-1].cursor


async def test_long_poll_is_woken_by_another_process(make_hub: HubFactory) -> None:
    a, b = await make_hub(), await make_hub()
    first = await publish(a, "lobby", "first")
    poll = asyncio.create_task(b.wait_for("lobby", first[0].cursor, timeout=GUARD))
    await eventually(lambda: any(r.waiters for r in b_local_rooms(b)), GUARD)
    await publish(a, "lobby", "second")
    replay = await asyncio.wait_for(poll, GUARD)
    assert [m.text for m in replay.messages] == ["second"]


def b_local_rooms(hub: RedisHub) -> list[LocalRoom]:
    # Waiters are local state; reading them needs no Redis round trip.
    return list(hub._followed.values())


async def test_slow_subscriber_is_dropped_counted_and_reported(make_hub: HubFactory) -> None:
    drops: list[tuple[Subscription, DropReason]] = []
    hub = await make_hub(queue_size=2, on_drop=lambda sub, reason: drops.append((sub, reason)))
    slow, _ = await hub.subscribe("lobby", WS)
    await publish(hub, "lobby", "1", "2", "3", "4")
    with pytest.raises(SubscriberDropped):
        await asyncio.wait_for(_drain(slow), GUARD)
    assert drops == [(slow, DropReason.SLOW_CONSUMER)]
    assert hub.dropped_total == {DropReason.SLOW_CONSUMER: 1, DropReason.SHUTDOWN: 0}


async def _drain(sub: Subscription) -> None:
    while True:
        await sub.next()


async def test_close_drops_everyone_wakes_waiters_and_refuses_new_work(
    make_hub: HubFactory,
) -> None:
    drops: list[tuple[Subscription, DropReason]] = []
    hub = await make_hub(on_drop=lambda sub, reason: drops.append((sub, reason)))
    a, _ = await hub.subscribe("a", WS)
    b, _ = await hub.subscribe("b", SSE)
    reader = asyncio.create_task(b.next())
    waiter = asyncio.create_task(hub.wait_for("c", Cursor(0), timeout=60))
    await eventually(lambda: sum(r.waiters for r in b_local_rooms(hub)) == 1, GUARD)

    await hub.close()
    await hub.close()

    with pytest.raises(SubscriberDropped) as excinfo:
        await asyncio.wait_for(reader, GUARD)
    assert excinfo.value.reason is DropReason.SHUTDOWN
    assert (await asyncio.wait_for(waiter, GUARD)).messages == []
    assert a.dropped is DropReason.SHUTDOWN
    assert {(s.room, r) for s, r in drops} == {("a", "shutdown"), ("b", "shutdown")}
    assert hub.dropped_total == {DropReason.SLOW_CONSUMER: 0, DropReason.SHUTDOWN: 2}
    assert hub.closed
    with pytest.raises(HubClosed):
        await hub.publish("a", "ann", "late", WS)


async def test_room_limit_is_shared(make_hub: HubFactory) -> None:
    a, b = await make_hub(max_rooms=1), await make_hub(max_rooms=1)
    await publish(a, "one", "x")
    with pytest.raises(RoomLimitReached):
        await b.publish("two", "ann", "x", WS)


async def test_redis_restart_is_told_and_recovered_from(
    make_hub: HubFactory, redis_server: RedisServer
) -> None:
    a, b = await make_hub(), await make_hub()
    sub, _ = await b.subscribe("lobby", SSE)
    before = await publish(a, "lobby", "before")
    assert (await next_message(sub)).id == before[0].id
    assert b.health()["state"] == "up"

    await redis_server.stop()
    down = await next_item(sub)
    assert isinstance(down, Notice)
    assert (down.kind, down.body["state"]) == (NoticeKind.BROKER, "down")  # type: ignore[index]
    with pytest.raises(BrokerUnavailable, match="room broker unavailable"):
        await a.publish("lobby", "ann", "while down", WS)
    assert b.health()["state"] == "down"

    await redis_server.start()  # empty: the room's history is gone, a new epoch begins
    up, reset = await next_item(sub), await next_item(sub)
    assert isinstance(up, Notice)
    assert up.kind is NoticeKind.BROKER
    assert isinstance(reset, Notice)
    assert reset.kind is NoticeKind.RESET
    after = await publish(a, "lobby", "after")
    message = await next_message(sub)
    assert (message.id, message.text, message.epoch) == (1, "after", after[0].epoch)
    assert message.epoch != before[0].epoch
    assert reset.body["epoch"] == message.epoch  # type: ignore[index]
    assert b.health()["state"] == "up"
    assert b.health()["outages"] == 1


async def test_a_reader_connection_cut_by_redis_loses_nothing(
    make_hub: HubFactory, redis_server: RedisServer
) -> None:
    # What Redis does to a client over its output-buffer limit: it closes the connection.
    a, b = await make_hub(), await make_hub()
    sub, _ = await b.subscribe("lobby", SSE)
    first = await publish(a, "lobby", "1")
    assert (await next_message(sub)).id == first[0].id
    admin = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        clients = await admin.client_list()
        readers = [c["id"] for c in clients if c["name"] == READER_NAME]
        assert len(readers) == 2  # one per hub
        for client_id in readers:
            await admin.client_kill_filter(_id=client_id)
    finally:
        await admin.aclose()
    kinds = [(await next_item(sub)) for _ in range(2)]
    states = [
        k.body.get("state") if isinstance(k, Notice) and isinstance(k.body, dict) else k
        for k in kinds
    ]
    assert states == ["down", "up"]
    later = await publish(a, "lobby", "2", "3")
    assert [(await next_message(sub)).id for _ in later] == [2, 3]
    assert sub.pending == 0


async def test_redis_unreachable_at_start_then_reachable() -> None:
    if REDIS_SERVER is None:
        pytest.skip(NOT_INSTALLED)
    absent = RedisServer()  # a free port where nothing listens yet
    hub = RedisHub(absent.url, op_timeout=1.0)
    await hub.start()
    try:
        with pytest.raises(BrokerUnavailable):
            await hub.publish("lobby", "ann", "too early", WS)
        with pytest.raises(BrokerUnavailable):
            await hub.subscribe("lobby", WS)
        await eventually(lambda: hub.health()["outages"] == 1, GUARD)
        assert hub.health()["state"] == "down"
        await absent.start()
        await eventually(lambda: hub.health()["state"] == "up", GUARD)
        sub, _ = await hub.subscribe("lobby", WS)
        sent = await hub.publish("lobby", "ann", "now", WS)
        assert (await next_message(sub)).id == sent.id
    finally:
        await hub.close()
        await absent.stop()
