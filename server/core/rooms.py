"""Rooms: one conversation shared by WebSocket clients, SSE subscribers and HTTP pollers.

This module is the protocol-independent hub. It knows nothing about aiohttp; the handlers
translate between their wire format and the calls below.

Policy
------
* **Ids.** Every room numbers its messages 1, 2, 3, ... with no gaps. Ids are per room and
  are the resume cursor of every protocol (WS `after_id`, SSE `Last-Event-ID`, HTTP `after`).
* **History.** Each room keeps its last `history_size` messages. A client resuming from an id
  older than that gets what is still there plus `Replay.lost`, the number of messages it
  can never see.
* **A cursor from a previous life.** A cursor beyond the room's last id can only come from
  before a restart (ids start again at 1 in a new process). It is read as "from the start":
  everything the new room holds is replayed. Waiting for ids to pass the old cursor instead
  would silently skip every message of the new life up to it.
* **Atomic resume.** `subscribe(after_id=...)` takes the replay and registers the live queue
  without yielding to the event loop, so every message is either in the replay or in the
  queue: never both, never neither.
* **Publishing never waits for a reader.** Messages are put into each subscriber's bounded
  queue without awaiting. A subscriber whose queue is full is a *slow consumer*: it is removed
  from the room at once and its `next()` raises `SubscriberDropped`. The backlog it had is
  discarded, because the client can resume from the last id it saw and get the rest from
  history, which is cheaper than streaming stale messages to a peer that cannot keep up.
* **Rooms** are created on first publish, subscribe or wait, and live as long as the hub
  (a poller must be able to come back to the history). `max_rooms` bounds their number;
  reading (`since`, `rooms`) never creates a room.
* **Shutdown.** `close()` drops every subscriber with `DropReason.SHUTDOWN` and wakes every
  long-poll waiter; afterwards publish, subscribe and wait_for raise `HubClosed`.

The handlers depend on the `RoomHub` protocol, not on `InMemoryHub`, so a distributed
backend (Redis streams, say) can be added without touching them.
"""

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

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

    def to_json(self) -> dict[str, object]:
        """The wire representation shared by all three protocols (plain JSON types only)."""
        return {
            "id": self.id,
            "room": self.room,
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "via": self.via.value,
        }


@dataclass(frozen=True, slots=True)
class Replay:
    """Stored messages after a cursor.

    `messages` holds, in id order, the history messages with id > the cursor. `lost` counts
    the ids after the cursor that fell out of the bounded history, so a client can tell the
    user "n messages missed" instead of silently skipping them.
    """

    messages: list[RoomMessage] = field(default_factory=list)
    lost: int = 0


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A snapshot of one room for `/api/rooms` and stats."""

    name: str
    last_id: int
    history_size: int
    subscribers: dict[str, int]  # live subscriptions per WireProtocol value, zeros included
    waiters: int  # long-poll requests currently parked in `wait_for`

    def to_json(self) -> dict[str, object]:
        """JSON-ready form of the snapshot; an HTTP long-poll counts as an HTTP subscriber."""
        subscribers = dict(self.subscribers)
        subscribers[WireProtocol.HTTP.value] = (
            subscribers.get(WireProtocol.HTTP.value, 0) + self.waiters
        )
        return {
            "name": self.name,
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


class SubscriberDropped(Exception):
    """Raised by `Subscription.next()` once the hub has dropped the subscription."""

    def __init__(self, reason: DropReason) -> None:
        super().__init__(f"subscription dropped: {reason}")
        self.reason = reason


class _Wake(StrEnum):
    """Tokens put into a subscription's queue to wake a pending `next()`."""

    DROPPED = "dropped"
    CLOSED = "closed"


class Subscription:
    """A live feed of one room's new messages for one connection.

    Created by `RoomHub.subscribe`; end it with `RoomHub.unsubscribe`. Read it with
    `await sub.next()` or `async for message in sub`.

    `next()` returns the next message in id order. Once the hub drops the subscription
    (`dropped` is then set), `next()` raises `SubscriberDropped` immediately, even if messages
    were still queued: the client should resume from the last id it received. After
    `unsubscribe`, `next()` raises `StopAsyncIteration`, so an `async for` loop in another task
    simply ends.
    """

    def __init__(self, room: str, protocol: WireProtocol, queue_size: int) -> None:
        if queue_size < 1:
            # asyncio.Queue treats 0 as unbounded, which would defeat slow-consumer detection.
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.room = room
        self.protocol = protocol
        self.dropped: DropReason | None = None
        self._closed = False
        self._queue: asyncio.Queue[RoomMessage | _Wake] = asyncio.Queue(maxsize=queue_size)

    def __repr__(self) -> str:
        state = f"dropped={self.dropped}" if self.dropped else f"pending={self.pending}"
        return f"<Subscription room={self.room!r} protocol={self.protocol} {state}>"

    @property
    def pending(self) -> int:
        """Messages queued and not yet read (0 once ended: the backlog is discarded)."""
        return self._queue.qsize() if self.active else 0

    @property
    def active(self) -> bool:
        """True until the subscription is dropped or unsubscribed."""
        return self.dropped is None and not self._closed

    async def next(self) -> RoomMessage:
        """Wait for the next message.

        Raises `SubscriberDropped` if the hub dropped this subscription and
        `StopAsyncIteration` if it was unsubscribed.
        """
        self._raise_if_ended()
        item = await self._queue.get()
        if isinstance(item, _Wake):
            # Put the token back so any other task blocked on this queue wakes as well.
            self._queue.put_nowait(item)
            self._raise_if_ended()
        assert isinstance(item, RoomMessage)
        return item

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> RoomMessage:
        return await self.next()

    def offer(self, message: RoomMessage) -> bool:
        """Queue `message` without waiting; False if the queue is full (for hub backends)."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
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
        `RoomLimitReached`, `HubClosed`) if the hub refuses.
        """
        ...

    def subscribe(
        self, room: str, protocol: WireProtocol, *, after_id: int | None = None
    ) -> tuple[Subscription, Replay]:
        """Start a live subscription to `room`.

        With `after_id`, also return the stored messages after it; the replay and the live
        queue are taken atomically, so together they hold every message after `after_id`
        exactly once. Without `after_id` the replay is empty. Raises `RoomError`.
        """
        ...

    def unsubscribe(self, sub: Subscription) -> None:
        """End `sub`; calling it again, or after the hub dropped `sub`, does nothing."""
        ...

    def since(self, room: str, after_id: int) -> Replay:
        """The stored messages of `room` with id > `after_id` (empty for an unknown room)."""
        ...

    # `timeout` is part of the contract (it comes from the poll request), hence the noqa.
    async def wait_for(self, room: str, after_id: int, timeout: float) -> Replay:  # noqa: ASYNC109
        """Long-poll: messages after `after_id`, waiting up to `timeout` seconds for one.

        Returns at once if there are any; otherwise returns as soon as one is published, or
        an empty `Replay` when `timeout` expires or the hub closes. Raises `RoomError`.
        """
        ...

    def rooms(self) -> list[RoomInfo]:
        """A snapshot of every room, sorted by name."""
        ...

    def close(self) -> None:
        """Drop every subscriber with `DropReason.SHUTDOWN` and wake every waiter."""
        ...


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _Room:
    """The state of one room inside `InMemoryHub`."""

    def __init__(self, name: str, history_size: int) -> None:
        self.name = name
        self.last_id = 0
        self.history: deque[RoomMessage] = deque(maxlen=history_size)
        self.subscribers: dict[Subscription, None] = {}  # a dict keeps delivery order stable
        self.waiters = 0
        # Set (and replaced) on every publish, so waiters parked on it all wake up once.
        self.published = asyncio.Event()

    def replay_after(self, after_id: int) -> Replay:
        if after_id > self.last_id:  # from before a restart: see "previous life" above
            after_id = 0
        oldest = self.history[0].id if self.history else self.last_id + 1
        # History ids are contiguous (oldest..last_id), so the cursor maps to an index.
        start = max(0, after_id + 1 - oldest)
        messages = list(itertools.islice(self.history, start, None))
        lost = max(0, oldest - (after_id + 1))
        return Replay(messages, lost)

    def wake_waiters(self) -> None:
        self.published.set()
        self.published = asyncio.Event()


class InMemoryHub:
    """`RoomHub` for a single process: all state in memory, lost on restart.

    `history_size` messages are kept per room (0 disables replay), each subscriber may have
    `queue_size` unread messages before it is dropped as a slow consumer, and at most
    `max_rooms` rooms exist. `on_drop` is called (synchronously, inside publish or close)
    for every dropped subscriber; `dropped_total` counts drops per reason. `clock` returns
    the message timestamp in milliseconds since the epoch.
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
        self._clock = clock or _wall_clock_ms
        self._rooms: dict[str, _Room] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    async def publish(self, room: str, user: str, text: str, via: WireProtocol) -> RoomMessage:
        """See `RoomHub.publish`. Never awaits: slow subscribers are dropped, not waited for."""
        state = self._open_room(room)
        state.last_id += 1
        message = RoomMessage(state.last_id, room, user, text, self._clock(), via)
        state.history.append(message)
        for sub in list(state.subscribers):
            if not sub.offer(message):
                self._drop(state, sub, DropReason.SLOW_CONSUMER)
        state.wake_waiters()
        return message

    def subscribe(
        self, room: str, protocol: WireProtocol, *, after_id: int | None = None
    ) -> tuple[Subscription, Replay]:
        """See `RoomHub.subscribe`."""
        state = self._open_room(room)
        # No await between the replay and the registration: that is what makes resume exact.
        replay = Replay() if after_id is None else state.replay_after(after_id)
        sub = Subscription(room, protocol, self.queue_size)
        state.subscribers[sub] = None
        return sub, replay

    def unsubscribe(self, sub: Subscription) -> None:
        """See `RoomHub.unsubscribe`."""
        state = self._rooms.get(sub.room)
        if state is not None:
            state.subscribers.pop(sub, None)
        sub.mark_closed()

    def since(self, room: str, after_id: int) -> Replay:
        """See `RoomHub.since`."""
        state = self._rooms.get(room)
        return Replay() if state is None else state.replay_after(after_id)

    async def wait_for(self, room: str, after_id: int, timeout: float) -> Replay:  # noqa: ASYNC109
        """See `RoomHub.wait_for`."""
        state = self._open_room(room)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            replay = state.replay_after(after_id)
            remaining = deadline - loop.time()
            if replay.messages or replay.lost or remaining <= 0 or self._closed:
                return replay
            # Woken by a publish, we look again rather than assume it concerns us.
            await self._wait_publish(state, deadline)

    def rooms(self) -> list[RoomInfo]:
        """See `RoomHub.rooms`."""
        return [self._info(self._rooms[name]) for name in sorted(self._rooms)]

    def close(self) -> None:
        """See `RoomHub.close`. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for state in self._rooms.values():
            for sub in list(state.subscribers):
                self._drop(state, sub, DropReason.SHUTDOWN)
            state.wake_waiters()

    def _open_room(self, name: str) -> _Room:
        if self._closed:
            raise HubClosed()
        state = self._rooms.get(name)
        if state is None:
            if len(self._rooms) >= self.max_rooms:
                raise RoomLimitReached(self.max_rooms)
            state = self._rooms[name] = _Room(name, self.history_size)
        return state

    async def _wait_publish(self, state: _Room, deadline: float) -> None:
        # The counter is decremented in `finally`, so timeouts and cancellation leave no trace;
        # Event.wait removes its own future on the way out.
        state.waiters += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await state.published.wait()
        finally:
            state.waiters -= 1

    def _drop(self, state: _Room, sub: Subscription, reason: DropReason) -> None:
        del state.subscribers[sub]
        sub.mark_dropped(reason)
        self.dropped_total[reason] += 1
        if self._on_drop is None:
            return
        try:
            self._on_drop(sub, reason)
        except Exception:
            # A broken metrics hook must not cost the other subscribers their message.
            log.exception("on_drop hook failed for %r", sub)

    @staticmethod
    def _info(state: _Room) -> RoomInfo:
        counts = dict.fromkeys((p.value for p in WireProtocol), 0)
        for sub in state.subscribers:
            counts[sub.protocol.value] += 1
        return RoomInfo(state.name, state.last_id, len(state.history), counts, state.waiters)
