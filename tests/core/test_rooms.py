"""The in-memory room hub, driven directly: no server, no real sleeps.

Tasks are synchronised with events and with `settle()`, which only yields to the event loop;
every await that could hang is bounded by `asyncio.wait_for`.
"""

import asyncio
import json
import logging
from collections.abc import Callable

import pytest

from server.core import notices
from server.core.cursors import Cursor
from server.core.notices import RESET_REASON, Notice, NoticeKind
from server.core.protocols import WireProtocol
from server.core.rooms import (
    DropReason,
    HubClosed,
    InMemoryHub,
    Replay,
    RoomError,
    RoomHub,
    RoomInfo,
    RoomLimitReached,
    RoomMessage,
    SubscriberDropped,
    Subscription,
)

GUARD = 2.0  # seconds; only reached if a test is broken


async def settle(predicate: Callable[[], bool], *, rounds: int = 100) -> None:
    """Yield to the event loop until `predicate()` holds (no wall-clock waiting)."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def info(hub: InMemoryHub, room: str) -> RoomInfo:
    return next(r for r in hub.snapshot() if r.name == room)


def waiters(hub: InMemoryHub, room: str) -> int:
    """Parked long-polls in `room`; 0 while the room does not exist yet."""
    return sum(r.waiters for r in hub.snapshot() if r.name == room)


def content(replay: Replay) -> tuple[list[int], int]:
    """The ids a replay holds and the number it lost (its position depends on the epoch)."""
    return ids(replay.messages), replay.lost


def ids(messages: list[RoomMessage]) -> list[int]:
    return [m.id for m in messages]


async def publish_n(hub: InMemoryHub, room: str, n: int) -> list[RoomMessage]:
    return [await hub.publish(room, "ann", f"m{i}", WireProtocol.WS) for i in range(n)]


async def delivered() -> None:
    """One turn of the event loop: the fan-out that a publish scheduled has run."""
    await asyncio.sleep(0)


async def receive(sub: Subscription) -> RoomMessage:
    item = await asyncio.wait_for(sub.next(), GUARD)
    assert isinstance(item, RoomMessage)
    return item


@pytest.fixture
def drops() -> list[tuple[Subscription, DropReason]]:
    return []


@pytest.fixture
def hub(drops: list[tuple[Subscription, DropReason]]) -> InMemoryHub:
    def on_drop(sub: Subscription, reason: DropReason) -> None:
        drops.append((sub, reason))

    return InMemoryHub(history_size=10, queue_size=4, max_rooms=5, on_drop=on_drop)


def test_in_memory_hub_satisfies_protocol(hub: InMemoryHub) -> None:
    assert isinstance(hub, RoomHub)


# --- messages and ids -------------------------------------------------------------------


async def test_message_fields_and_json() -> None:
    hub = InMemoryHub(clock=lambda: 1_700_000_000_123)
    message = await hub.publish("lobby", "ann", "hello", WireProtocol.SSE)
    epoch = message.epoch
    assert message == RoomMessage(
        1, "lobby", "ann", "hello", 1_700_000_000_123, WireProtocol.SSE, epoch
    )
    as_json = message.to_json()
    assert as_json == {
        "id": 1,
        "epoch": epoch,
        "room": "lobby",
        "user": "ann",
        "text": "hello",
        "ts": 1_700_000_000_123,
        "via": "sse",
    }
    assert type(as_json["via"]) is str
    assert json.loads(message.wire) == as_json  # encoded once, at publish
    assert str(message.cursor) == f"{epoch}-1"


async def test_default_clock_is_epoch_milliseconds() -> None:
    message = await InMemoryHub().publish("lobby", "ann", "hi", WireProtocol.WS)
    assert 1_600_000_000_000 < message.ts < 10_000_000_000_000


async def test_ids_monotonic_per_room_and_independent(hub: InMemoryHub) -> None:
    a = await publish_n(hub, "a", 3)
    b = await publish_n(hub, "b", 2)
    a += await publish_n(hub, "a", 1)
    assert ids(a) == [1, 2, 3, 4]
    assert ids(b) == [1, 2]
    assert [(r.name, r.last_id) for r in hub.snapshot()] == [("a", 4), ("b", 2)]


# --- history and replay -------------------------------------------------------------------


async def test_history_is_bounded(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 25)
    assert info(hub, "lobby").history_size == 10
    assert ids((await hub.since("lobby", Cursor(0))).messages) == list(range(16, 26))


async def test_since_returns_exactly_the_following_messages(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 5)
    everything = await hub.since("lobby", Cursor(0))
    assert content(await hub.since("lobby", Cursor(2))) == (ids(everything.messages)[2:], 0)
    assert ids((await hub.since("lobby", Cursor(2))).messages) == [3, 4, 5]


@pytest.mark.parametrize(
    ("after_id", "expected_ids", "lost"),
    [
        # 25 published, history 10: ids 16..25 stored, 1..15 gone.
        (0, list(range(16, 26)), 15),
        (4, list(range(16, 26)), 11),
        (14, list(range(16, 26)), 1),
        (15, list(range(16, 26)), 0),
        (20, [21, 22, 23, 24, 25], 0),
        (24, [25], 0),
        (25, [], 0),
        # A cursor ahead of the room is from before a restart: the new life from its start.
        (99, list(range(16, 26)), 15),
    ],
)
async def test_replay_counts_lost_messages(
    hub: InMemoryHub, after_id: int, expected_ids: list[int], lost: int
) -> None:
    await publish_n(hub, "lobby", 25)
    replay = await hub.since("lobby", Cursor(after_id))
    assert (ids(replay.messages), replay.lost) == (expected_ids, lost)
    _, sub_replay = await hub.subscribe("lobby", WireProtocol.SSE, after=Cursor(after_id))
    assert sub_replay == replay


async def test_without_history_everything_after_cursor_is_lost() -> None:
    hub = InMemoryHub(history_size=0)
    await publish_n(hub, "lobby", 3)
    assert content(await hub.since("lobby", Cursor(1))) == ([], 2)


async def test_since_unknown_room_is_empty_and_creates_nothing(hub: InMemoryHub) -> None:
    assert content(await hub.since("nowhere", Cursor(0))) == ([], 0)
    assert hub.snapshot() == []


# --- subscriptions ---------------------------------------------------------------------


async def test_subscribe_without_cursor_gets_only_live_messages(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 2)
    sub, replay = await hub.subscribe("lobby", WireProtocol.WS)
    assert content(replay) == ([], 0)
    await hub.publish("lobby", "bob", "live", WireProtocol.HTTP)
    message = await receive(sub)
    assert (message.id, message.text, message.via) == (3, "live", WireProtocol.HTTP)
    assert sub.pending == 0


async def test_resume_delivers_each_message_once(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 3)
    sub, replay = await hub.subscribe("lobby", WireProtocol.SSE, after=Cursor(1))
    await publish_n(hub, "lobby", 2)
    assert ids(replay.messages) == [2, 3]
    assert [(await receive(sub)).id for _ in range(2)] == [4, 5]
    assert sub.pending == 0


async def test_subscribe_racing_a_publisher_has_no_gap_or_duplicate() -> None:
    hub = InMemoryHub(history_size=100, queue_size=100)
    half_done = asyncio.Event()

    async def publisher() -> None:
        for i in range(40):
            await hub.publish("lobby", "ann", str(i), WireProtocol.WS)
            if i == 20:
                half_done.set()
            await asyncio.sleep(0)  # a scheduling point, as a real handler would have

    task = asyncio.create_task(publisher())
    await asyncio.wait_for(half_done.wait(), GUARD)
    sub, replay = await hub.subscribe("lobby", WireProtocol.SSE, after=Cursor(0))
    await asyncio.wait_for(task, GUARD)
    live = [await receive(sub) for _ in range(sub.pending)]
    # Both non-empty: the subscription really happened mid-stream.
    assert replay.messages
    assert live
    assert ids(replay.messages) + ids(live) == list(range(1, 41))


async def test_async_iteration_yields_messages_in_order(hub: InMemoryHub) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    await publish_n(hub, "lobby", 3)
    received: list[int] = []
    async for message in sub:
        assert isinstance(message, RoomMessage), message
        received.append(message.id)
        if len(received) == 3:
            break
    assert received == [1, 2, 3]


async def test_subscribers_counted_per_protocol(hub: InMemoryHub) -> None:
    await hub.subscribe("lobby", WireProtocol.WS)
    await hub.subscribe("lobby", WireProtocol.SSE)
    sub, _ = await hub.subscribe("lobby", WireProtocol.SSE)
    assert info(hub, "lobby").subscribers == {"ws": 1, "sse": 2, "http": 0}
    hub.unsubscribe(sub)
    assert info(hub, "lobby").subscribers == {"ws": 1, "sse": 1, "http": 0}


async def test_unsubscribe_is_idempotent_and_ends_iteration(hub: InMemoryHub) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    collected: list[int] = []

    async def consume() -> None:
        async for message in sub:
            assert isinstance(message, RoomMessage), message
            collected.append(message.id)

    task = asyncio.create_task(consume())
    await publish_n(hub, "lobby", 2)
    await settle(lambda: len(collected) == 2)
    hub.unsubscribe(sub)
    hub.unsubscribe(sub)
    await asyncio.wait_for(task, GUARD)  # the loop ended instead of hanging
    assert collected == [1, 2]
    assert not sub.active
    assert sub.dropped is None
    assert info(hub, "lobby").subscribers["ws"] == 0
    await publish_n(hub, "lobby", 1)
    with pytest.raises(StopAsyncIteration):
        await sub.next()


# --- slow consumers ------------------------------------------------------------------------


async def test_slow_subscriber_dropped_while_others_keep_receiving(
    hub: InMemoryHub, drops: list[tuple[Subscription, DropReason]]
) -> None:
    slow, _ = await hub.subscribe("lobby", WireProtocol.SSE)
    fast, _ = await hub.subscribe("lobby", WireProtocol.WS)
    received: list[int] = []
    for message in await publish_n(hub, "lobby", 4):  # exactly fills both queues (size 4)
        received.append((await receive(fast)).id)
        assert message.id == received[-1]
    assert slow.active

    for _ in range(10):
        message = await hub.publish("lobby", "ann", "more", WireProtocol.WS)
        received.append((await receive(fast)).id)

    assert received == list(range(1, 15))
    assert slow.dropped is DropReason.SLOW_CONSUMER
    assert drops == [(slow, DropReason.SLOW_CONSUMER)]
    assert hub.dropped_total[DropReason.SLOW_CONSUMER] == 1
    assert info(hub, "lobby").subscribers == {"ws": 1, "sse": 0, "http": 0}
    # Dropped means dropped: the backlog is not handed out first.
    with pytest.raises(SubscriberDropped) as excinfo:
        await slow.next()
    assert excinfo.value.reason is DropReason.SLOW_CONSUMER
    assert str(excinfo.value) == "subscription dropped: slow consumer"


async def test_drop_wakes_a_pending_next() -> None:
    hub = InMemoryHub(queue_size=1)
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    reader = asyncio.create_task(sub.next())
    await asyncio.sleep(0)  # one loop turn: the new task runs and blocks in next()
    assert not reader.done()
    # Two publishes with no await in between: the reader has been woken but not yet run,
    # so the second message overflows the queue of one.
    await hub.publish("lobby", "ann", "1", WireProtocol.WS)
    await hub.publish("lobby", "ann", "2", WireProtocol.WS)
    with pytest.raises(SubscriberDropped):
        await asyncio.wait_for(reader, GUARD)
    assert sub.dropped is DropReason.SLOW_CONSUMER


async def test_unsubscribe_after_drop_keeps_reason(hub: InMemoryHub) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    await publish_n(hub, "lobby", 5)
    await delivered()
    hub.unsubscribe(sub)
    hub.unsubscribe(sub)
    assert sub.dropped is DropReason.SLOW_CONSUMER


async def test_failing_drop_hook_does_not_stop_delivery(caplog: pytest.LogCaptureFixture) -> None:
    def broken(sub: Subscription, reason: DropReason) -> None:
        raise RuntimeError("metrics down")

    hub = InMemoryHub(queue_size=1, on_drop=broken)
    slow, _ = await hub.subscribe("lobby", WireProtocol.WS)
    fast, _ = await hub.subscribe("lobby", WireProtocol.SSE)
    await hub.publish("lobby", "ann", "1", WireProtocol.WS)
    assert (await receive(fast)).id == 1
    with caplog.at_level(logging.ERROR, logger="server.core.rooms"):
        await hub.publish("lobby", "ann", "2", WireProtocol.WS)
    assert (await receive(fast)).id == 2
    assert slow.dropped is DropReason.SLOW_CONSUMER
    assert "on_drop hook failed" in caplog.text


# --- sinks: delivery inside the publish ---------------------------------------------------


class ListSink:
    """A sink that records what it is given; `room` items fit before it refuses, and
    `gone` makes it report a closed connection."""

    def __init__(self, room: int = 100) -> None:
        self.items: list[object] = []
        self.room = room
        self.gone = False

    def deliver(self, item: object) -> bool:
        if self.gone:
            raise ConnectionResetError("closed")
        if len(self.items) >= self.room:
            return False
        self.items.append(item)
        return True


def sink_ids(sink: ListSink) -> list[int]:
    return [item.id for item in sink.items if isinstance(item, RoomMessage)]


async def test_attach_flushes_the_queue_in_order_then_delivers_at_publish(
    hub: InMemoryHub,
) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    await publish_n(hub, "lobby", 3)
    await delivered()  # queued: no sink yet
    sink = ListSink()
    sub.attach(sink)
    assert sink_ids(sink) == [1, 2, 3]
    assert sub.pending == 0
    await publish_n(hub, "lobby", 2)
    # The publisher's own answer goes first: the fan-out runs in the next loop turn...
    assert sink_ids(sink) == [1, 2, 3]
    await delivered()
    # ... and writes to the sink itself, with no reader task.
    assert sink_ids(sink) == [1, 2, 3, 4, 5]
    assert sub.attached
    assert sub.active


async def test_attached_slow_subscriber_is_dropped_and_its_reader_told(
    hub: InMemoryHub, drops: list[tuple[Subscription, DropReason]]
) -> None:
    slow, _ = await hub.subscribe("lobby", WireProtocol.SSE)
    fast, _ = await hub.subscribe("lobby", WireProtocol.WS)
    slow_sink, fast_sink = ListSink(room=2), ListSink()
    slow.attach(slow_sink)
    fast.attach(fast_sink)
    reader = asyncio.create_task(slow.next())  # what the handler awaits once attached
    await publish_n(hub, "lobby", 3)
    with pytest.raises(SubscriberDropped) as excinfo:
        await asyncio.wait_for(reader, GUARD)
    assert excinfo.value.reason is DropReason.SLOW_CONSUMER
    assert drops == [(slow, DropReason.SLOW_CONSUMER)]
    assert sink_ids(fast_sink) == [1, 2, 3]
    assert sink_ids(slow_sink) == [1, 2]
    assert info(hub, "lobby").subscribers == {"ws": 1, "sse": 0, "http": 0}


async def test_sink_refusing_the_backlog_drops_at_the_next_publish(
    hub: InMemoryHub, drops: list[tuple[Subscription, DropReason]]
) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    await publish_n(hub, "lobby", 3)
    await delivered()
    sub.attach(ListSink(room=1))
    assert sub.active  # the refusal is the hub's to act on: it counts and removes
    await publish_n(hub, "lobby", 1)
    await delivered()
    assert drops == [(sub, DropReason.SLOW_CONSUMER)]


async def test_closed_connection_ends_an_attached_subscription(hub: InMemoryHub) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.SSE)
    sink = ListSink()
    sub.attach(sink)
    reader = asyncio.create_task(sub.next())
    sink.gone = True
    await publish_n(hub, "lobby", 1)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, GUARD)
    assert sub.dropped is None
    assert hub.dropped_total[DropReason.SLOW_CONSUMER] == 0
    hub.unsubscribe(sub)
    assert info(hub, "lobby").subscribers["sse"] == 0


async def test_attached_sink_skips_what_the_replay_held(hub: InMemoryHub) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    messages = await publish_n(hub, "lobby", 3)
    await delivered()
    sub.skip_through(messages[1].cursor)  # a replay already sent 1 and 2
    sink = ListSink()
    sub.attach(sink)
    await publish_n(hub, "lobby", 1)
    await delivered()
    assert sink_ids(sink) == [3, 4]


async def test_joining_between_publish_and_fan_out_gets_the_message_once(
    hub: InMemoryHub,
) -> None:
    await publish_n(hub, "lobby", 1)
    await delivered()
    message = (await publish_n(hub, "lobby", 1))[0]
    # The message is stored, its fan-out not yet run: a resume now finds it in history.
    sub, replay = await hub.subscribe("lobby", WireProtocol.SSE, after=Cursor(1, message.epoch))
    assert ids(replay.messages) == [2]
    await delivered()
    await publish_n(hub, "lobby", 1)
    assert (await receive(sub)).id == 3  # not 2 again


async def test_shutdown_ends_an_attached_subscription(hub: InMemoryHub) -> None:
    sub, _ = await hub.subscribe("lobby", WireProtocol.WS)
    sub.attach(ListSink())
    reader = asyncio.create_task(sub.next())
    await hub.close()
    with pytest.raises(SubscriberDropped) as excinfo:
        await asyncio.wait_for(reader, GUARD)
    assert excinfo.value.reason is DropReason.SHUTDOWN


# --- long-poll ------------------------------------------------------------------------------


async def test_wait_for_returns_backlog_immediately(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 3)
    replay = await asyncio.wait_for(hub.wait_for("lobby", Cursor(1), timeout=60), GUARD)
    assert ids(replay.messages) == [2, 3]


async def test_wait_for_wakes_every_waiter_on_publish(hub: InMemoryHub) -> None:
    polls = [asyncio.create_task(hub.wait_for("lobby", Cursor(0), timeout=60)) for _ in range(3)]
    await settle(lambda: waiters(hub, "lobby") == 3)
    await hub.publish("lobby", "ann", "wake up", WireProtocol.HTTP)
    results = await asyncio.wait_for(asyncio.gather(*polls), GUARD)
    assert [ids(r.messages) for r in results] == [[1], [1], [1]]
    assert waiters(hub, "lobby") == 0


async def test_wait_for_times_out_with_empty_replay(hub: InMemoryHub) -> None:
    replay = await asyncio.wait_for(hub.wait_for("lobby", Cursor(0), timeout=0.01), GUARD)
    assert content(replay) == ([], 0)
    assert waiters(hub, "lobby") == 0


async def test_wait_for_zero_timeout_does_not_wait(hub: InMemoryHub) -> None:
    assert content(await hub.wait_for("lobby", Cursor(0), timeout=0)) == ([], 0)


async def test_wait_for_parks_at_the_last_id_until_the_next(hub: InMemoryHub) -> None:
    first = await hub.publish("lobby", "ann", "id 1, already seen", WireProtocol.WS)
    waiter = asyncio.create_task(hub.wait_for("lobby", first.cursor, timeout=60))
    await settle(lambda: waiters(hub, "lobby") == 1)
    assert not waiter.done()
    await hub.publish("lobby", "ann", "id 2", WireProtocol.WS)
    replay = await asyncio.wait_for(waiter, GUARD)
    assert ids(replay.messages) == [2]


async def test_cancelled_wait_leaves_no_waiter(hub: InMemoryHub) -> None:
    waiter = asyncio.create_task(hub.wait_for("lobby", Cursor(0), timeout=60))
    await settle(lambda: waiters(hub, "lobby") == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert waiters(hub, "lobby") == 0
    await hub.publish("lobby", "ann", "nobody waits", WireProtocol.WS)  # must not fail


# --- limits and shutdown ----------------------------------------------------------------


async def test_max_rooms() -> None:
    hub = InMemoryHub(max_rooms=2)
    await hub.publish("a", "ann", "hi", WireProtocol.WS)
    await hub.subscribe("b", WireProtocol.SSE)
    with pytest.raises(RoomLimitReached) as excinfo:
        await hub.wait_for("c", Cursor(0), timeout=0)
    assert isinstance(excinfo.value, RoomError)
    assert "at most 2 rooms" in str(excinfo.value)
    with pytest.raises(RoomLimitReached):
        await hub.publish("c", "ann", "hi", WireProtocol.WS)
    with pytest.raises(RoomLimitReached):
        await hub.subscribe("c", WireProtocol.WS)
    assert (await hub.publish("b", "ann", "existing rooms still work", WireProtocol.WS)).id == 1
    assert [r.name for r in hub.snapshot()] == ["a", "b"]


async def test_close_drops_everyone_and_wakes_waiters(
    hub: InMemoryHub, drops: list[tuple[Subscription, DropReason]]
) -> None:
    idle, _ = await hub.subscribe("a", WireProtocol.WS)
    sub, _ = await hub.subscribe("b", WireProtocol.SSE)
    reader = asyncio.create_task(sub.next())
    waiter = asyncio.create_task(hub.wait_for("c", Cursor(0), timeout=60))
    await settle(lambda: waiters(hub, "c") == 1)

    hub.close_now()
    hub.close_now()

    with pytest.raises(SubscriberDropped) as excinfo:
        await asyncio.wait_for(reader, GUARD)
    assert excinfo.value.reason is DropReason.SHUTDOWN
    assert content(await asyncio.wait_for(waiter, GUARD)) == ([], 0)
    assert idle.dropped is DropReason.SHUTDOWN
    assert {(s.room, r) for s, r in drops} == {("a", "shutdown"), ("b", "shutdown")}
    assert hub.dropped_total == {DropReason.SLOW_CONSUMER: 0, DropReason.SHUTDOWN: 2}
    assert hub.closed


async def test_closed_hub_refuses_new_work_but_still_reads(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 2)
    hub.close_now()
    with pytest.raises(HubClosed):
        await hub.publish("lobby", "ann", "late", WireProtocol.WS)
    with pytest.raises(HubClosed):
        await hub.subscribe("lobby", WireProtocol.WS)
    with pytest.raises(HubClosed):
        await hub.wait_for("lobby", Cursor(0), timeout=1)
    assert ids((await hub.since("lobby", Cursor(0))).messages) == [1, 2]
    assert info(hub, "lobby").last_id == 2


def test_room_info_json() -> None:
    room = RoomInfo("lobby", 3, 3, {"ws": 1, "sse": 0, "http": 0}, 2)
    assert room.to_json() == {
        "name": "lobby",
        "epoch": "",
        "last_id": 3,
        "history_size": 3,
        "subscribers": {"ws": 1, "sse": 0, "http": 2},  # long-polls count as HTTP subscribers
        "waiters": 2,
    }


# --- epochs: a cursor from another life is reset, never silently skipped ---------------


async def test_cursor_from_another_epoch_gets_reset_and_whole_history(hub: InMemoryHub) -> None:
    messages = await publish_n(hub, "lobby", 3)
    replay = await hub.since("lobby", Cursor(2, "0ther"))
    assert replay.reset
    assert ids(replay.messages) == [1, 2, 3]
    assert replay.position == messages[-1].cursor
    assert [n.kind for n in replay.notices()] == [NoticeKind.RESET]
    assert replay.notices()[0].body == {"epoch": messages[0].epoch, "reason": RESET_REASON}


async def test_cursor_of_this_epoch_resumes_without_reset(hub: InMemoryHub) -> None:
    messages = await publish_n(hub, "lobby", 3)
    replay = await hub.since("lobby", messages[0].cursor)
    assert (replay.reset, ids(replay.messages)) == (False, [2, 3])
    assert replay.notices() == []


async def test_plain_cursor_ahead_of_the_room_is_a_reset(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 2)
    replay = await hub.since("lobby", Cursor(7))
    assert (replay.reset, ids(replay.messages)) == (True, [1, 2])


async def test_reset_then_gap_when_the_new_life_outgrew_history() -> None:
    hub = InMemoryHub(history_size=2)
    await publish_n(hub, "lobby", 5)
    replay = await hub.since("lobby", Cursor(9, "0ther"))
    assert [n.kind for n in replay.notices()] == [NoticeKind.RESET, NoticeKind.GAP]
    assert (ids(replay.messages), replay.lost) == ([4, 5], 3)


async def test_unknown_room_with_an_epoch_cursor_is_a_reset(hub: InMemoryHub) -> None:
    assert (await hub.since("nowhere", Cursor(3, "0ther"))).reset
    assert not (await hub.since("nowhere", Cursor(0))).reset


async def test_a_new_hub_is_a_new_epoch() -> None:
    before = await InMemoryHub().publish("lobby", "ann", "hi", WireProtocol.WS)
    after_restart = InMemoryHub()
    await after_restart.publish("lobby", "bob", "new life", WireProtocol.WS)
    sub, replay = await after_restart.subscribe("lobby", WireProtocol.SSE, after=before.cursor)
    assert replay.reset
    assert [m.text for m in replay.messages] == ["new life"]
    after_restart.unsubscribe(sub)


async def test_wait_for_answers_a_reset_at_once(hub: InMemoryHub) -> None:
    await publish_n(hub, "lobby", 1)
    replay = await asyncio.wait_for(hub.wait_for("lobby", Cursor(1, "0ther"), 60), GUARD)
    assert replay.reset


async def test_skip_through_drops_what_the_replay_held_until_a_reset() -> None:
    sub = Subscription("lobby", WireProtocol.WS, queue_size=8)
    old = [RoomMessage(i, "lobby", "a", "t", 0, WireProtocol.WS, "e1") for i in (1, 2, 3)]
    new = RoomMessage(1, "lobby", "a", "t", 0, WireProtocol.WS, "e2")
    sub.skip_through(Cursor(2, "e1"))
    reset = notices.reset("e2", RESET_REASON)
    items: list[RoomMessage | Notice] = [*old, reset, new]
    for item in items:
        assert sub.offer(item)
    assert [await receive_any(sub) for _ in range(3)] == [old[2], reset, new]


async def receive_any(sub: Subscription) -> object:
    return await asyncio.wait_for(sub.next(), GUARD)
