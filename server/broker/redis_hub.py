"""`RedisHub`: rooms shared by every server process through one Redis server.

Why these structures (the long form is in docs/scale-out.md):

* **One capped Stream per room** holds the history *and* carries fan-out. Entry ids are
  `0-<message id>`, so a resume is `XRANGE (0-<cursor> +` and a process follows new messages
  with a blocking `XREAD` from the last id it delivered. Nothing is pushed at a process that
  is not reading, so Redis never buffers for a slow or absent process (plain pub/sub would
  buffer in Redis' output buffer, cut the connection when it overflows, and lose whatever
  was published meanwhile: python-socketio#1581, socket.io-redis-adapter#393).
* **Ids are assigned inside Redis.** A Lua script does INCR and XADD in one step, so ids
  are monotonic across processes with no gap and no duplicate, and `MAXLEN` trims history
  to `history_size` exactly.
* **An epoch per room** lives beside it. When Redis loses the room (restarted without
  persistence, flushed), the next publish or subscribe creates a new epoch, and every
  process that was following the room tells its subscribers `reset`.
* **A process never delivers its own publish directly**: every message, its own included,
  reaches local subscribers once, through the reader, in id order.

Faults: publishes, subscriptions and polls fail with `BrokerUnavailable` (a 503) at once
while Redis is unreachable; live subscribers stay connected, are sent `broker` down/up
notices, then `reset` (new epoch) or `gap` (history trimmed) when Redis comes back. The
reader reconnects with a bounded back-off; nothing is queued for Redis meanwhile.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.core import notices
from server.core.cursors import Cursor, new_epoch, plan_resume
from server.core.protocols import WireProtocol
from server.core.rooms import (
    BrokerUnavailable,
    DropHook,
    DropReason,
    HubBase,
    LocalRoom,
    Replay,
    RoomInfo,
    RoomLimitReached,
    RoomMessage,
    Subscription,
)
from server.core.urls import redact_url

log = logging.getLogger(__name__)

# KEYS: rooms set, epoch, seq, log. ARGV: room, max_rooms, fresh epoch, history, then
# user, text, ts, via for a publish (absent to just open the room).
# Returns {epoch, id} ({"", -1} when the room limit is reached); id is the new message's id,
# or the room's last id when only opening.
_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {'', -1} end
  redis.call('SADD', KEYS[1], ARGV[1])
end
local epoch = redis.call('GET', KEYS[2])
if (not epoch) or redis.call('EXISTS', KEYS[3]) == 0 then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
  redis.call('SET', KEYS[3], 0)
  redis.call('DEL', KEYS[4])
end
if #ARGV < 5 then return {epoch, tonumber(redis.call('GET', KEYS[3]))} end
local id = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', ARGV[4], '0-' .. id,
           'user', ARGV[5], 'text', ARGV[6], 'ts', ARGV[7], 'via', ARGV[8])
return {epoch, id}
"""

READER_NAME = "protocol-lab-reader"
READ_BATCH = 500  # entries per room per XREAD: bounds what one read brings into memory
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Followed(LocalRoom):
    """A room this process follows: local subscribers and waiters, and where the reader is."""

    def __init__(
        self, name: str, drop: Callable[[LocalRoom, Subscription, DropReason], None]
    ) -> None:
        super().__init__(name, drop)
        self.epoch: str | None = None
        self.position: int | None = None  # last id delivered here; None: not read yet
        self.holders = 0  # long-polls in `wait_for`, between their reads too

    @property
    def idle(self) -> bool:
        return not self.subscribers and not self.holders


class RedisHub(HubBase):
    """`RoomHub` whose rooms live in Redis and are shared by every process using `url`.

    Same parameters and policy as `InMemoryHub` (see `HubBase`). Call `start()` inside the
    event loop before use and `close()` at the end. `op_timeout` bounds every command (and
    connecting); `block_ms` is how long one blocking read waits before it is issued again.
    """

    def __init__(
        self,
        url: str,
        *,
        history_size: int = 1000,
        queue_size: int = 256,
        max_rooms: int = 1000,
        on_drop: DropHook | None = None,
        clock: Callable[[], int] | None = None,
        prefix: str = "pl:",
        op_timeout: float = 2.0,
        block_ms: int = 5000,
    ) -> None:
        # Sizes are checked before any Redis client exists (creating one does not connect).
        super().__init__(history_size, queue_size, max_rooms, on_drop, clock)
        self.url = url
        self._prefix = prefix
        self._block_ms = block_ms
        # No silent retries: a failed command must surface, or a reconnect to a restarted
        # Redis could go unnoticed and its new epoch with it.
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": op_timeout,
            "retry": Retry(NoBackoff(), 0),
            "retry_on_timeout": False,
        }
        self._client = Redis.from_url(url, socket_timeout=op_timeout, **options)
        self._reader = Redis.from_url(
            url,
            socket_timeout=block_ms / 1000 + op_timeout,
            single_connection_client=True,
            client_name=READER_NAME,  # so that `CLIENT LIST` shows which connection reads
            **options,
        )
        self._script = self._client.register_script(_SCRIPT)
        self._wake_key = f"{prefix}wake:{uuid.uuid4().hex}"
        self._wake_position = "0-0"
        self._followed: dict[str, _Followed] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._up = False
        self._state_since = time.monotonic()
        self._outages = 0
        self._last_error = ""

    # -- keys -----------------------------------------------------------------------------

    def _keys(self, room: str) -> list[str]:
        base = f"{self._prefix}room:{{{room}}}:"
        return [f"{self._prefix}rooms", base + "epoch", base + "seq", base + "log"]

    def _log_key(self, room: str) -> str:
        return self._keys(room)[3]

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start following Redis (the hub works, and reports `down`, while it is away)."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="redis-hub-reader")

    async def close(self) -> None:
        """See `RoomHub.close`; also stops the reader and closes the connections."""
        if self._closed:
            return
        self._shut_down(self._followed.values())
        self._closing.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self._client.delete(self._wake_key)
        await self._reader.aclose()
        await self._client.aclose()

    # -- the RoomHub protocol --------------------------------------------------------------

    async def publish(self, room: str, user: str, text: str, via: WireProtocol) -> RoomMessage:
        """See `RoomHub.publish`. Local subscribers get it through the reader, like others'."""
        self._check_open()
        ts = self._clock()
        epoch, seq = await self._run_script(room, user, text, str(ts), via.value)
        return RoomMessage(seq, room, user, text, ts, via, epoch)

    async def subscribe(
        self, room: str, protocol: WireProtocol, *, after: Cursor | None = None
    ) -> tuple[Subscription, Replay]:
        """See `RoomHub.subscribe`. The subscription collects before the replay is read;
        `skip_through` then drops the overlap, so nothing is missed or sent twice."""
        self._check_open()
        local = self._follow_room(room)
        sub = Subscription(room, protocol, self.queue_size)
        local.subscribers[sub] = None
        try:
            epoch, last = await self._run_script(room)
            if after is None:
                replay = Replay(position=Cursor(last, epoch))
            else:
                replay = await self._read(room, after)
            await self._start_reading(local, replay.position)
        except BaseException:
            local.subscribers.pop(sub, None)
            sub.mark_closed()
            self._unfollow_if_idle(local)
            raise
        sub.skip_through(replay.position)
        return sub, replay

    def unsubscribe(self, sub: Subscription) -> None:
        """See `RoomHub.unsubscribe`."""
        local = self._followed.get(sub.room)
        if local is not None:
            local.subscribers.pop(sub, None)
            self._unfollow_if_idle(local)
        sub.mark_closed()

    async def since(self, room: str, after: Cursor) -> Replay:
        """See `RoomHub.since`."""
        return await self._read(room, after)

    async def wait_for(self, room: str, after: Cursor, timeout: float) -> Replay:  # noqa: ASYNC109
        """See `RoomHub.wait_for`."""
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        local = self._follow_room(room)
        local.holders += 1
        try:
            await self._run_script(room)  # creates the room, as the in-memory hub does
            while True:
                published = local.published  # taken before reading: no wake-up is missed
                replay = await self._read(room, after)
                await self._start_reading(local, replay.position)
                found = replay.messages or replay.lost or replay.reset
                if found or loop.time() >= deadline or self._closed:
                    return replay
                await local.wait_publish(deadline, published)
        finally:
            local.holders -= 1
            self._unfollow_if_idle(local)

    async def rooms(self) -> list[RoomInfo]:
        """See `RoomHub.rooms`. Subscriber counts are this process's; ids are global."""
        try:
            names = sorted(str(name) for name in await self._client.smembers(self._keys("")[0]))
            async with self._client.pipeline(transaction=False) as pipe:
                for name in names:
                    _, epoch_key, seq_key, log_key = self._keys(name)
                    pipe.get(epoch_key)
                    pipe.get(seq_key)
                    pipe.xlen(log_key)
                values = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(_describe(exc)) from None
        infos = []
        for index, name in enumerate(names):
            epoch, seq, length = values[3 * index : 3 * index + 3]
            local = self._followed.get(name)
            counts = local.counts() if local else dict.fromkeys((p.value for p in WireProtocol), 0)
            waiters = local.waiters if local else 0
            infos.append(RoomInfo(name, int(seq or 0), int(length), counts, waiters, epoch or ""))
        return infos

    def health(self) -> dict[str, object]:
        """See `RoomHub.health`."""
        state = "closed" if self._closed else "up" if self._up else "down"
        return {
            "kind": "redis",
            "shared": True,
            "url": redact_url(self.url),
            "state": state,
            "state_for_s": round(time.monotonic() - self._state_since, 3),
            "outages": self._outages,
            "last_error": self._last_error,
            "followed_rooms": len(self._followed),
        }

    # -- reading Redis ---------------------------------------------------------------------

    async def _run_script(self, room: str, *message: str) -> tuple[str, int]:
        args: list[str | int] = [room, self.max_rooms, new_epoch(), self.history_size, *message]
        try:
            epoch, seq = await self._script(keys=self._keys(room), args=args)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(_describe(exc)) from None
        if int(seq) < 0:
            raise RoomLimitReached(self.max_rooms)
        return str(epoch), int(seq)

    async def _read(self, room: str, after: Cursor) -> Replay:
        """The replay for `after`, read in one transaction (two when the cursor resets)."""
        _, epoch_key, seq_key, log_key = self._keys(room)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.get(epoch_key)
                pipe.get(seq_key)
                pipe.xrange(log_key, "-", "+", count=1)
                pipe.xrange(log_key, f"(0-{after.seq}", "+")
                epoch, seq, first, entries = await pipe.execute()
            if epoch is None:
                return Replay.of_unknown_room(after)
            last = int(seq or 0)
            oldest = _seq_of(first[0][0]) if first else last + 1
            plan = plan_resume(after, epoch, oldest, last)
            if plan.after != after.seq:
                entries = await self._client.xrange(log_key, f"(0-{plan.after}", "+")
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(_describe(exc)) from None
        messages = [self._message(room, epoch, entry_id, fields) for entry_id, fields in entries]
        position = max(last, messages[-1].id) if messages else last
        return Replay(messages, plan.lost, plan.reset, Cursor(position, epoch))

    @staticmethod
    def _message(room: str, epoch: str, entry_id: str, fields: dict[str, str]) -> RoomMessage:
        via = WireProtocol(fields["via"])
        return RoomMessage(
            _seq_of(entry_id), room, fields["user"], fields["text"], int(fields["ts"]), via, epoch
        )

    # -- following rooms -------------------------------------------------------------------

    def _follow_room(self, room: str) -> _Followed:
        local = self._followed.get(room)
        if local is None:
            local = self._followed[room] = _Followed(room, self._drop)
        return local

    def _unfollow_if_idle(self, local: _Followed) -> None:
        if local.idle and self._followed.get(local.name) is local:
            del self._followed[local.name]

    async def _start_reading(self, local: _Followed, position: Cursor) -> None:
        """Have the reader follow `local` from `position` if it does not already."""
        if local.position is not None or position.epoch is None:
            return
        local.epoch, local.position = position.epoch, position.seq
        try:  # interrupt the blocking read so that it includes this room now
            await self._client.xadd(self._wake_key, {"w": "1"}, maxlen=1)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(_describe(exc)) from None

    async def _follow(self) -> None:
        """The reader: one blocking XREAD over every followed room, until closed."""
        delay = BACKOFF_FIRST_S
        while not self._closed:
            try:
                if not self._up:
                    await self._recover()
                await self._read_once()
                delay = BACKOFF_FIRST_S
            except (RedisError, OSError) as exc:
                self._went_down(exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._closing.wait()
                delay = min(BACKOFF_MAX_S, delay * 2)

    async def _read_once(self) -> None:
        followed = {
            self._log_key(name): local
            for name, local in self._followed.items()
            if local.position is not None
        }
        streams: dict[Any, Any] = {self._wake_key: self._wake_position}
        streams.update({key: f"0-{local.position}" for key, local in followed.items()})
        reply: Any = await self._reader.xread(streams, count=READ_BATCH, block=self._block_ms)
        for key, entries in reply or []:
            if key == self._wake_key:
                self._wake_position = entries[-1][0]
            elif (local := followed.get(key)) is not None and local is self._followed.get(
                local.name
            ):
                self._deliver(local, entries)

    def _deliver(self, local: _Followed, entries: list[tuple[str, dict[str, str]]]) -> None:
        for entry_id, fields in entries:
            seq = _seq_of(entry_id)
            if local.position is None or local.epoch is None or seq <= local.position:
                continue
            if seq > local.position + 1:  # trimmed before this process could read it
                local.deliver(notices.gap(seq - local.position - 1))
            local.deliver(self._message(local.name, local.epoch, entry_id, fields))
            local.position = seq
        local.wake_waiters()

    def _went_down(self, exc: BaseException) -> None:
        self._last_error = _describe(exc)
        if not self._up and self._outages:
            return
        was_up, self._up = self._up, False
        self._outages += 1
        self._state_since = time.monotonic()
        log.warning("Redis room broker %s unreachable: %s", redact_url(self.url), self._last_error)
        if not was_up:
            return
        notice = notices.broker(False, "room broker unreachable; live messages pause")
        for local in list(self._followed.values()):
            local.deliver(notice)
            local.wake_waiters()  # parked long-polls answer 503 now rather than time out

    async def _recover(self) -> None:
        """Redis answers again: compare each followed room's epoch, then resume reading."""
        await self._reader.ping()
        followed = [local for local in self._followed.values() if local.position is not None]
        epochs = [(await self._run_script_raw(local.name))[0] for local in followed]
        first_time = self._outages == 0
        self._up = True
        self._state_since = time.monotonic()
        if first_time:
            log.info("Redis room broker %s reachable", redact_url(self.url))
            return
        log.warning("Redis room broker %s reachable again", redact_url(self.url))
        up = notices.broker(True, "room broker reachable again; live messages resume")
        for local, epoch in zip(followed, epochs, strict=True):
            local.deliver(up)
            if epoch != local.epoch:  # Redis lost the room: its history restarts
                local.deliver(notices.reset(epoch, notices.RESET_REASON))
                local.epoch, local.position = epoch, 0
            local.wake_waiters()

    async def _run_script_raw(self, room: str) -> tuple[str, int]:
        # As `_run_script`, but a Redis error propagates to the reader's back-off.
        args: list[str | int] = [room, self.max_rooms, new_epoch(), self.history_size]
        epoch, seq = await self._script(keys=self._keys(room), args=args)
        return str(epoch), int(seq)


def _seq_of(entry_id: str) -> int:
    """The message id in a stream entry id `0-<id>`."""
    return int(entry_id.rpartition("-")[2])
