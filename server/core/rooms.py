"""Rooms: one conversation shared by WebSocket clients, SSE subscribers and HTTP pollers.

This module is the protocol-independent hub. It knows nothing about aiohttp; the handlers
translate between their wire format and the calls below.

Policy
------
* **Ids and epochs.** Every room numbers its messages 1, 2, 3, ... with no gaps, within an
  *epoch* (see `server/core/cursors.py`): a new life of a room (a restart without a shared
  broker, a broker that lost its data) gets a new epoch and starts again at 1. The resume
  cursor of every protocol is `<epoch>-<id>` (WS `after`, SSE `Last-Event-ID`, HTTP `since`).
* **History.** Each room keeps its last `history_size` messages. A client resuming from an id
  older than that gets what is still there plus `Replay.lost`, the number of messages it
  can never see.
* **A cursor from a previous life** (another epoch, or an id beyond the room's last one) gets
  `Replay.reset`, then the current history from its start: the client is told, and no message
  of the new life is hidden behind the old cursor.
* **Atomic resume.** `subscribe(after=...)` returns a replay and a live subscription that
  together hold every message after the cursor exactly once: never both, never neither.
* **Publishing never waits for a reader.** A subscription starts with a bounded queue, read
  by its connection's task. Once that task has sent the replay it may `attach` a `Sink`: from
  then on the publish itself writes each message to the connection (no task woken, no await,
  one syscall per subscriber), which is what keeps a fan-out to 1,000 subscribers within a few
  milliseconds. Either way a subscriber that cannot keep up is a *slow consumer* (its queue is
  full, or its sink's backlog is over the limit): it is removed from the room at once and its
  `next()` raises `SubscriberDropped`. The backlog it had is discarded, because the client can
  resume from the last id it saw and get the rest from history, which is cheaper than
  streaming stale messages to a peer that cannot keep up.
* **Encode once.** A `RoomMessage` carries its wire JSON (`wire`), made once when the message
  is built; every subscriber of every protocol is sent that same text. Sinks keep the bytes
  they frame it in (one WebSocket frame, one SSE event) in `frames`, so those too are built
  once per publish, not once per subscriber.
* **Rooms** are created on first publish, subscribe or wait, and live as long as the hub
  (a poller must be able to come back to the history). `max_rooms` bounds their number;
  reading (`since`, `rooms`) never creates a room.
* **Shutdown.** `close()` drops every subscriber with `DropReason.SHUTDOWN` and wakes every
  long-poll waiter; afterwards publish, subscribe and wait_for raise `HubClosed`.

The handlers depend on the `RoomHub` protocol; `InMemoryHub` below serves one process, and
`server/broker/redis_hub.py` shares rooms between processes through Redis. Both build on
`HubBase` (bounds, drop counting, shutdown) and `LocalRoom` (this process's subscribers).
"""

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from server.core import notices
from server.core.cursors import ORIGIN, Cursor, new_epoch, plan_resume
from server.core.notices import Notice, NoticeKind
from server.core.protocols import WireProtocol
from server.core.refusals import CloseCode, Reason, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoomMessage:
    """One chat message as stored in history and sent to every protocol."""

    id: int
    room: str
    user: str
    text: str
    ts: int  # milliseconds since the Unix epoch, taken by the hub when publishing
    via: WireProtocol
    epoch: str
    # The JSON every protocol sends, encoded once here rather than once per subscriber.
    wire: str = field(init=False, repr=False, compare=False)
    # Wire bytes built from `wire` by a sink (per framing), cached for the next subscriber.
    frames: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wire", json.dumps(self.to_json(), separators=(",", ":")))
        object.__setattr__(self, "frames", {})

    @property
    def cursor(self) -> Cursor:
        """The cursor that resumes right after this message (the SSE `id:`)."""
        return Cursor(self.id, self.epoch)

    def to_json(self) -> dict[str, object]:
        """The wire representation shared by all three protocols (plain JSON types only)."""
        return {
            "id": self.id,
            "epoch": self.epoch,
            "room": self.room,
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "via": self.via.value,
        }


@dataclass(frozen=True, slots=True)
class Replay:
    """Stored messages after a cursor.

    `messages` holds, in id order, the history messages after the resume point. `reset` says
    the cursor was from another epoch (the messages then start at the current history's
    beginning). `lost` counts the ids after the resume point that fell out of the bounded
    history, so a client can tell the user "n messages missed" instead of silently skipping
    them. `position` is the cursor to resume from after these messages.
    """

    messages: list[RoomMessage] = field(default_factory=list)
    lost: int = 0
    reset: bool = False
    position: Cursor = ORIGIN

    @classmethod
    def of_unknown_room(cls, after: Cursor) -> "Replay":
        """The replay for a room that does not exist (reading never creates one)."""
        # No room, no life to compare with: a cursor with an epoch (or an id) is from a former one.
        return cls(reset=after.epoch is not None or after.seq > 0)

    def notices(self) -> list[Notice]:
        """What to tell the client before the messages: reset, then gap, when they apply."""
        told = (
            [notices.reset(self.position.epoch or "", notices.RESET_REASON)] if self.reset else []
        )
        return told + ([notices.gap(self.lost)] if self.lost else [])


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A snapshot of one room for `/api/rooms` and stats."""

    name: str
    last_id: int
    history_size: int
    subscribers: dict[str, int]  # live subscriptions per WireProtocol value, zeros included
    waiters: int  # long-poll requests currently parked in `wait_for`
    epoch: str = ""

    def to_json(self) -> dict[str, object]:
        """JSON-ready form of the snapshot; an HTTP long-poll counts as an HTTP subscriber."""
        subscribers = dict(self.subscribers)
        subscribers[WireProtocol.HTTP.value] = (
            subscribers.get(WireProtocol.HTTP.value, 0) + self.waiters
        )
        return {
            "name": self.name,
            "epoch": self.epoch,
            "last_id": self.last_id,
            "history_size": self.history_size,
            "subscribers": subscribers,
            "waiters": self.waiters,
        }


class DropReason(StrEnum):
    """Why the hub ended a subscription (the value is shown to clients)."""

    SLOW_CONSUMER = "slow consumer"  # its queue overflowed
    SHUTDOWN = "shutdown"  # the hub was closed


class RoomError(Unavailable):
    """A request the hub refuses; `str(error)` is a message fit to show the user."""


class RoomLimitReached(RoomError):
    """Creating one more room would exceed `max_rooms`."""

    reason = Reason.MAX_ROOMS

    def __init__(self, max_rooms: int) -> None:
        super().__init__(
            f"room limit reached: this server holds at most {max_rooms} rooms; "
            "join an existing room"
        )
        self.max_rooms = max_rooms


class HubClosed(RoomError):
    """The hub was closed (the server is shutting down)."""

    close_code = CloseCode.GOING_AWAY

    def __init__(self) -> None:
        super().__init__("the server is shutting down")


class BrokerUnavailable(RoomError):
    """The shared room broker cannot be reached; rooms pause, echo and ticks go on."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"room broker unavailable ({detail}); rooms resume when it is back")


class SubscriberDropped(Exception):
    """Raised by `Subscription.next()` once the hub has dropped the subscription."""

    def __init__(self, reason: DropReason) -> None:
        super().__init__(f"subscription dropped: {reason}")
        self.reason = reason


class _Wake(StrEnum):
    """Tokens put into a subscription's queue to wake a pending `next()`."""

    DROPPED = "dropped"
    CLOSED = "closed"


Delivery = RoomMessage | Notice


class Sink(Protocol):
    """Where an attached subscription's deliveries go: one connection's socket.

    `deliver` is called inside publish and must not block: it writes `item` (framed for its
    protocol) and returns True, returns False without writing when the connection's unsent
    backlog is over its limit (the hub then drops the subscriber as a slow consumer), and
    raises `ConnectionResetError` when the connection is gone or closing (the subscription
    then ends as if unsubscribed, and its reader's loop ends).
    """

    def deliver(self, item: Delivery) -> bool:
        """Write `item` now; False if the backlog is over the limit."""
        ...


class Subscription:
    """A live feed of one room's new messages (and notices) for one connection.

    Created by `RoomHub.subscribe`; end it with `RoomHub.unsubscribe`. Read it with
    `await sub.next()` or `async for item in sub`.

    `next()` returns the next message in id order, or a `Notice` (`broker` when the shared
    broker goes or comes back, `reset` and `gap` when it lost history meanwhile). Once the hub
    drops the subscription (`dropped` is then set), `next()` raises `SubscriberDropped`
    immediately, even if messages were still queued: the client should resume from the last
    id it received. After `unsubscribe`, `next()` raises `StopAsyncIteration`, so an
    `async for` loop in another task simply ends.

    After `attach(sink)`, deliveries go straight to the sink and `next()` only waits for the
    end (it raises as above); the queue then holds nothing but the wake-up token.
    """

    def __init__(self, room: str, protocol: WireProtocol, queue_size: int) -> None:
        if queue_size < 1:
            # asyncio.Queue treats 0 as unbounded, which would defeat slow-consumer detection.
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.room = room
        self.protocol = protocol
        self.dropped: DropReason | None = None
        self._closed = False
        self._floor: Cursor | None = None
        self._sink: Sink | None = None
        self._overflowed = False  # the sink refused a backlog item while attaching
        self._queue: asyncio.Queue[Delivery | _Wake] = asyncio.Queue(maxsize=queue_size)

    def __repr__(self) -> str:
        state = f"dropped={self.dropped}" if self.dropped else f"pending={self.pending}"
        return f"<Subscription room={self.room!r} protocol={self.protocol} {state}>"

    @property
    def pending(self) -> int:
        """Items queued and not yet read (0 once ended: the backlog is discarded)."""
        return self._queue.qsize() if self.active else 0

    @property
    def active(self) -> bool:
        """True until the subscription is dropped or unsubscribed."""
        return self.dropped is None and not self._closed

    async def next(self) -> Delivery:
        """Wait for the next message or notice.

        Raises `SubscriberDropped` if the hub dropped this subscription and
        `StopAsyncIteration` if it was unsubscribed.
        """
        while True:
            self._raise_if_ended()
            item = await self._queue.get()
            if isinstance(item, _Wake):
                # Put the token back so any other task blocked on this queue wakes as well.
                self._queue.put_nowait(item)
                self._raise_if_ended()
                continue
            if isinstance(item, Notice):
                if item.kind is NoticeKind.RESET:
                    self._floor = None
                return item
            if not self._covered(item):
                return item

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Delivery:
        return await self.next()

    def skip_through(self, position: Cursor) -> None:
        """Skip queued messages at or before `position`, which a replay already holds.

        For hubs whose replay is read while the subscription already collects (Redis): the
        overlap is dropped here, once per message, instead of being sent twice.
        """
        self._floor = position

    @property
    def attached(self) -> bool:
        """True once deliveries go straight to a sink (see `attach`)."""
        return self._sink is not None

    def attach(self, sink: Sink) -> None:
        """Deliver through `sink` from now on: first what is queued, in order, then every
        new item at publish time.

        Call it from the subscription's reader once it has sent the replay, with no await in
        between, so that nothing queued is overtaken. Does nothing once the subscription ended.
        """
        if not self.active or self._sink is not None:
            return
        self._sink = sink
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Wake):  # cannot happen while active; keep the token anyway
                self._queue.put_nowait(item)
                return
            if not self._deliver(sink, item):
                self._overflowed = True  # dropped by the hub at the next offer
                return

    def offer(self, item: Delivery) -> bool:
        """Queue `item` without waiting, or hand it to the attached sink; False if the
        subscriber cannot take it (a slow consumer, for hub backends to drop)."""
        sink = self._sink
        if sink is not None:
            if not self.active:
                return True  # ended; its owner unsubscribes it
            return not self._overflowed and self._deliver(sink, item)
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def _deliver(self, sink: Sink, item: Delivery) -> bool:
        """Hand `item` to `sink` unless a replay already held it (the same filter as
        `next()`); a closed connection ends the subscription."""
        if isinstance(item, Notice):
            if item.kind is NoticeKind.RESET:
                self._floor = None
        elif self._covered(item):
            return True
        try:
            return sink.deliver(item)
        except ConnectionResetError:
            self.mark_closed()
            return True

    def mark_dropped(self, reason: DropReason) -> None:
        """End the subscription for `reason` and wake its reader (for hub backends)."""
        if self.active:
            self.dropped = reason
            self._end(_Wake.DROPPED)

    def mark_closed(self) -> None:
        """End the subscription at its owner's request (for hub backends)."""
        if self.active:
            self._closed = True
            self._end(_Wake.CLOSED)

    def _covered(self, message: RoomMessage) -> bool:
        floor = self._floor
        return floor is not None and message.epoch == floor.epoch and message.id <= floor.seq

    def _end(self, token: _Wake) -> None:
        # Discard the backlog (see the class docstring), which also frees room for the token.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(token)

    def _raise_if_ended(self) -> None:
        if self.dropped is not None:
            raise SubscriberDropped(self.dropped)
        if self._closed:
            raise StopAsyncIteration


DropHook = Callable[[Subscription, DropReason], None]


@runtime_checkable
class RoomHub(Protocol):
    """What the protocol handlers need from a room backend."""

    async def publish(self, room: str, user: str, text: str, via: WireProtocol) -> RoomMessage:
        """Store a message in `room`, deliver it to every subscriber and wake every waiter.

        Returns the stored message with its id and timestamp. Raises `RoomError` (e.g.
        `RoomLimitReached`, `HubClosed`, `BrokerUnavailable`) if the hub refuses.
        """
        ...

    async def subscribe(
        self, room: str, protocol: WireProtocol, *, after: Cursor | None = None
    ) -> tuple[Subscription, Replay]:
        """Start a live subscription to `room`.

        With `after`, also return the stored messages after it (resume rule in
        `server/core/cursors.py`); replay and subscription together hold every message after
        `after` exactly once. Without `after` the replay is empty. Raises `RoomError`.
        """
        ...

    def unsubscribe(self, sub: Subscription) -> None:
        """End `sub`; calling it again, or after the hub dropped `sub`, does nothing."""
        ...

    async def since(self, room: str, after: Cursor) -> Replay:
        """The stored messages of `room` after `after` (empty for an unknown room).

        Raises `BrokerUnavailable` when the rooms live in a broker that cannot be reached.
        """
        ...

    # `timeout` is part of the contract (it comes from the poll request), hence the noqa.
    async def wait_for(self, room: str, after: Cursor, timeout: float) -> Replay:  # noqa: ASYNC109
        """Long-poll: messages after `after`, waiting up to `timeout` seconds for one.

        Returns at once if there are any (or a reset or gap to report); otherwise returns as
        soon as one is published, or an empty `Replay` when `timeout` expires or the hub
        closes. Raises `RoomError`.
        """
        ...

    async def rooms(self) -> list[RoomInfo]:
        """A snapshot of every room, sorted by name."""
        ...

    def health(self) -> dict[str, object]:
        """The hub's line in `/api/stats`: its kind, whether rooms are shared, its state."""
        ...

    async def start(self) -> None:
        """Connect to what the hub needs (called once the event loop runs)."""
        ...

    async def close(self) -> None:
        """Drop every subscriber with `DropReason.SHUTDOWN` and wake every waiter."""
        ...


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch: the `ts` of a message."""
    return time.time_ns() // 1_000_000


class LocalRoom:
    """One room's subscribers and long-poll waiters in this process, for every hub.

    `deliver` applies the slow-consumer policy; `wake_waiters` releases every parked
    long-poll once.
    """

    def __init__(
        self, name: str, drop: "Callable[[LocalRoom, Subscription, DropReason], None]"
    ) -> None:
        self.name = name
        self.subscribers: dict[Subscription, None] = {}  # a dict keeps delivery order stable
        self.waiters = 0
        # Set (and replaced) on every publish, so waiters parked on it all wake up once.
        self.published = asyncio.Event()
        self._drop = drop

    @property
    def idle(self) -> bool:
        """No subscriber and no waiter here."""
        return not self.subscribers and not self.waiters

    def deliver(self, item: Delivery, subscribers: list[Subscription] | None = None) -> None:
        """Hand `item` to every subscriber (or to `subscribers`, those of the moment it was
        published), dropping those who cannot take it."""
        for sub in list(self.subscribers) if subscribers is None else subscribers:
            if sub.active and not sub.offer(item):
                self._drop(self, sub, DropReason.SLOW_CONSUMER)

    def wake_waiters(self) -> None:
        """Release every parked long-poll (each then looks again)."""
        self.published.set()
        self.published = asyncio.Event()

    async def wait_publish(self, deadline: float, event: asyncio.Event | None = None) -> None:
        """Park until `wake_waiters` sets `event` (default: the next one) or until the loop
        time `deadline`."""
        event = event or self.published
        # The counter is decremented in `finally`, so timeouts and cancellation leave no trace;
        # Event.wait removes its own future on the way out.
        self.waiters += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await event.wait()
        finally:
            self.waiters -= 1

    def counts(self) -> dict[str, int]:
        """Live subscriptions per protocol, zeros included."""
        counts = dict.fromkeys((p.value for p in WireProtocol), 0)
        for sub in self.subscribers:
            counts[sub.protocol.value] += 1
        return counts


class HubBase:
    """What every `RoomHub` backend keeps besides its rooms: its bounds, its drop counts,
    its clock and whether it is closed. `InMemoryHub` and `RedisHub` build on it.

    `history_size` messages are kept per room (0 disables replay), each subscriber may have
    `queue_size` unread messages before it is dropped as a slow consumer, and at most
    `max_rooms` rooms exist; a size out of range is a `ValueError` here, before the backend
    opens anything. `on_drop` is called (synchronously, inside publish or close) for every
    dropped subscriber; `dropped_total` counts drops per reason. `clock` returns the message
    timestamp in milliseconds since the epoch.
    """

    def __init__(
        self,
        history_size: int,
        queue_size: int,
        max_rooms: int,
        on_drop: DropHook | None,
        clock: Callable[[], int] | None,
    ) -> None:
        if history_size < 0:
            raise ValueError(f"history_size must be >= 0, got {history_size}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if max_rooms < 1:
            raise ValueError(f"max_rooms must be >= 1, got {max_rooms}")
        self.history_size = history_size
        self.queue_size = queue_size
        self.max_rooms = max_rooms
        self.dropped_total: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        self._on_drop = on_drop
        self._clock = clock or wall_clock_ms
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def _check_open(self) -> None:
        """Raise `HubClosed` once the hub is closed (before publish, subscribe, wait)."""
        if self._closed:
            raise HubClosed()

    def _shut_down(self, rooms: Iterable[LocalRoom]) -> None:
        """Mark the hub closed, drop every subscriber of `rooms` with `DropReason.SHUTDOWN`
        and wake every long-poll parked there (it then answers with what it has)."""
        self._closed = True
        for room in list(rooms):
            for sub in list(room.subscribers):
                self._drop(room, sub, DropReason.SHUTDOWN)
            room.wake_waiters()

    def _drop(self, room: LocalRoom, sub: Subscription, reason: DropReason) -> None:
        """Remove `sub` from `room`, end it for `reason`, count it and call `on_drop`."""
        room.subscribers.pop(sub, None)
        sub.mark_dropped(reason)
        self.dropped_total[reason] += 1
        if self._on_drop is None:
            return
        try:
            self._on_drop(sub, reason)
        except Exception:
            # A broken metrics hook must not cost the other subscribers their message.
            log.exception("on_drop hook failed for %r", sub)


class _Room(LocalRoom):
    """The state of one room inside `InMemoryHub`: local fan-out plus the history."""

    def __init__(
        self,
        name: str,
        history_size: int,
        drop: Callable[[LocalRoom, Subscription, DropReason], None],
    ) -> None:
        super().__init__(name, drop)
        self.epoch = new_epoch()
        self.last_id = 0
        self.history: deque[RoomMessage] = deque(maxlen=history_size)

    def replay_after(self, cursor: Cursor) -> Replay:
        oldest = self.history[0].id if self.history else self.last_id + 1
        plan = plan_resume(cursor, self.epoch, oldest, self.last_id)
        # History ids are contiguous (oldest..last_id), so the cursor maps to an index.
        start = max(0, plan.after + 1 - oldest)
        messages = list(itertools.islice(self.history, start, None))
        return Replay(messages, plan.lost, plan.reset, Cursor(self.last_id, self.epoch))


class InMemoryHub(HubBase):
    """`RoomHub` for a single process: all state in memory, lost on restart.

    The parameters and the drop bookkeeping are `HubBase`'s.
    """

    def __init__(
        self,
        *,
        history_size: int = 1000,
        queue_size: int = 256,
        max_rooms: int = 1000,
        on_drop: DropHook | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(history_size, queue_size, max_rooms, on_drop, clock)
        self._rooms: dict[str, _Room] = {}

    async def publish(self, room: str, user: str, text: str, via: WireProtocol) -> RoomMessage:
        """See `RoomHub.publish`. Never awaits: slow subscribers are dropped, not waited for.

        The message is stored at once and handed to the subscribers of this moment in the
        next turn of the event loop: the publisher's own answer (a POST's 201) is written
        first, so a client never sees its message on its stream before the server confirmed
        it, and a fan-out to many does not delay that answer.
        """
        state = self._open_room(room)
        state.last_id += 1
        message = RoomMessage(state.last_id, room, user, text, self._clock(), via, state.epoch)
        state.history.append(message)
        # The subscribers are fixed now: one who joins before the callback runs has the
        # message in its replay already, and must not get it twice.
        asyncio.get_running_loop().call_soon(state.deliver, message, list(state.subscribers))
        state.wake_waiters()
        return message

    async def subscribe(
        self, room: str, protocol: WireProtocol, *, after: Cursor | None = None
    ) -> tuple[Subscription, Replay]:
        """See `RoomHub.subscribe`."""
        state = self._open_room(room)
        # No await between the replay and the registration: that is what makes resume exact.
        if after is None:
            replay = Replay(position=Cursor(state.last_id, state.epoch))
        else:
            replay = state.replay_after(after)
        sub = Subscription(room, protocol, self.queue_size)
        state.subscribers[sub] = None
        return sub, replay

    def unsubscribe(self, sub: Subscription) -> None:
        """See `RoomHub.unsubscribe`."""
        state = self._rooms.get(sub.room)
        if state is not None:
            state.subscribers.pop(sub, None)
        sub.mark_closed()

    async def since(self, room: str, after: Cursor) -> Replay:
        """See `RoomHub.since`."""
        return self.since_now(room, after)

    def since_now(self, room: str, after: Cursor) -> Replay:
        """`since` without awaiting (this hub never needs to)."""
        state = self._rooms.get(room)
        if state is None:
            return Replay.of_unknown_room(after)
        return state.replay_after(after)

    async def wait_for(self, room: str, after: Cursor, timeout: float) -> Replay:  # noqa: ASYNC109
        """See `RoomHub.wait_for`."""
        state = self._open_room(room)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            replay = state.replay_after(after)
            remaining = deadline - loop.time()
            if replay.messages or replay.lost or replay.reset or remaining <= 0 or self._closed:
                return replay
            # Woken by a publish, we look again rather than assume it concerns us.
            await state.wait_publish(deadline)

    async def rooms(self) -> list[RoomInfo]:
        """See `RoomHub.rooms`."""
        return self.snapshot()

    def snapshot(self) -> list[RoomInfo]:
        """`rooms()` without awaiting."""
        return [self._info(self._rooms[name]) for name in sorted(self._rooms)]

    def health(self) -> dict[str, object]:
        """See `RoomHub.health`: memory is always up, and never shared between processes."""
        return {"kind": "memory", "shared": False, "state": "closed" if self._closed else "up"}

    async def start(self) -> None:
        """See `RoomHub.start`: memory needs nothing."""

    async def close(self) -> None:
        """See `RoomHub.close`."""
        self.close_now()

    def close_now(self) -> None:
        """`close()` without awaiting. Idempotent."""
        if not self._closed:
            self._shut_down(self._rooms.values())

    def _open_room(self, name: str) -> _Room:
        self._check_open()
        state = self._rooms.get(name)
        if state is None:
            if len(self._rooms) >= self.max_rooms:
                raise RoomLimitReached(self.max_rooms)
            state = self._rooms[name] = _Room(name, self.history_size, self._drop)
        return state

    @staticmethod
    def _info(state: _Room) -> RoomInfo:
        return RoomInfo(
            state.name,
            state.last_id,
            len(state.history),
            state.counts(),
            state.waiters,
            state.epoch,
        )
