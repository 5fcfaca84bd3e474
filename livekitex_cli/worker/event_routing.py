"""Cheaper delivery of ``livekit.rtc``'s native events when one process is in many rooms.

``livekit.rtc`` (1.x) receives every native event on one thread and hands it to every
subscriber of the process, one ``loop.call_soon_threadsafe`` (one write to the event loop's
wake-up pipe) per subscriber. Each connected room is a subscriber and so is each request in
flight (``send_text``, ``set_attributes``, ...), and each room that gets another room's event
still wakes, forwards it to its participant queue and waits for it to be taken. With N rooms
in a process every event costs N wake-ups: a worker's CPU grows with the square of its jobs
(50 text rooms kept two cores busy at 13 turns a second).

``route_room_events(room)``, called once a room is connected, applies three remedies:

- the process's event queue is replaced (once) by one that wakes each event loop once per
  batch of events and fans them out on the loop itself (``install_batched_delivery``);
- the room becomes the owner of its handle: its room events go to its queue and to no other
  subscriber. Without this every room still connecting (its subscription is taken before it
  knows its handle) and every request waiting for its answer gets every room event of the
  process: a connecting room holds them all until its connect returns, then works through
  them one by one. With 200 rooms joining at once that grew one process past 10 GB;
- the room's subscription is narrowed so that room events of rooms that have no owner (yet)
  are dropped before they are queued. Request callbacks and RPC invocations still reach the
  room as before.

The queue and its subscriber list are private to ``livekit.rtc``, so both functions act only
on the livekit versions this was checked against (``VERIFIED``), only when the queue and every
subscriber entry have the expected shape, and not at all with ``LKX_EVENT_ROUTING=off``: a
change upstream then costs speed, never events.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from livekit import rtc

from livekitex_cli.log import get_logger

log = get_logger("worker")
Filter = Callable[[Any], bool]
Subscriber = tuple[Any, asyncio.AbstractEventLoop, Filter | None]
VERIFIED = ((1, 2, 1), (1, 3))  # livekit versions (from, below) whose event queue was checked
OFF = ("0", "off", "false", "no")


def enabled() -> bool:
    """Whether to touch ``livekit.rtc``'s event queue at all: not with
    ``LKX_EVENT_ROUTING=off``, nor on a livekit version outside ``VERIFIED``."""
    if os.environ.get("LKX_EVENT_ROUTING", "on").strip().lower() in OFF:
        return False
    try:
        found = tuple(int(part) for part in version("livekit").split(".")[:3])
    except (PackageNotFoundError, ValueError):
        return False
    return VERIFIED[0] <= found < VERIFIED[1]


def _ffi_client() -> Any:
    from livekit.rtc._ffi_client import FfiClient

    return FfiClient.instance


def install_batched_delivery() -> bool:
    """Swap in the batching event queue (idempotent); True when it is in place. Subscribers
    already there move over, so it may come after rooms have connected."""
    if not enabled():
        return False
    try:
        from livekit.rtc._ffi_client import FfiQueue

        client = _ffi_client()
        current = client._queue
    except (ImportError, AttributeError) as exc:
        log.debug("batched event delivery unavailable", extra={"error": str(exc)})
        return False
    if isinstance(current, _BatchedQueue):
        return True
    if type(current) is not FfiQueue or not _has_subscriber_shape(current):
        return False
    batched = _BatchedQueue()
    with current._lock:
        batched._subscribers.extend(current._subscribers)
        client._queue = batched
    return True


def route_room_events(room: rtc.Room) -> bool:
    """Batched delivery for the process, and only ``room``'s own room events in its queue;
    True when the room's filter is in place."""
    if not install_batched_delivery():
        return False
    try:
        queue: Any = _ffi_client().queue
        own = room._ffi_queue
        handle = getattr(room._ffi_handle, "handle", None)  # None until connected
    except (ImportError, AttributeError) as exc:
        log.debug("room event routing unavailable", extra={"error": str(exc)})
        return False
    if not _has_subscriber_shape(queue) or not isinstance(handle, int):
        return False
    with queue._lock:
        for index, entry in enumerate(queue._subscribers):
            if isinstance(entry, tuple) and len(entry) == 3 and entry[0] is own:
                own_queue, loop, keep = entry
                queue._subscribers[index] = (own_queue, loop, _only_room(handle, keep))
                queue.own(handle, own_queue)
                return True
    return False


def _has_subscriber_shape(queue: Any) -> bool:
    """The private shape this relies on: a lock, and a list of (queue, loop, filter) entries."""
    subscribers = getattr(queue, "_subscribers", None)
    if not isinstance(subscribers, list) or not hasattr(queue, "_lock"):
        return False
    return all(
        isinstance(entry, tuple)
        and len(entry) == 3
        and isinstance(entry[1], asyncio.AbstractEventLoop)
        and (entry[2] is None or callable(entry[2]))
        for entry in subscribers
    )


# what a connected room reads from its queue in livekit 1.2: its own room events, RPC calls
# to its participant, and the answers to its participant's publish and unpublish requests
ROOM_READS = frozenset({"room_event", "rpc_method_invocation", "publish_track", "unpublish_track"})


@functools.cache
def _answers() -> frozenset[str]:
    """Every other kind of native event: the answer to one request, which the request waits
    for on a queue of its own, or a stream's event, read through the stream's queue."""
    from livekit.rtc._proto import ffi_pb2

    kinds = ffi_pb2.FfiEvent.DESCRIPTOR.oneofs_by_name["message"].fields
    return frozenset(field.name for field in kinds) - ROOM_READS


def _only_room(handle: int, keep: Filter | None) -> Filter:
    def accept(event: Any) -> bool:
        if event.WhichOneof("message") == "room_event" and event.room_event.room_handle != handle:
            return False
        return keep is None or bool(keep(event))

    return accept


class _BatchedQueue:
    """``FfiQueue``'s interface; ``put`` runs on the native thread, the fan-out on the loop.

    Events keep their order per loop. A subscriber sees the events that arrive while it is
    subscribed, as with the original queue; one that subscribes while a batch waits may also
    see that batch, which the library's consumers (matching on ids and handles) ignore. The
    exceptions, for rooms with an owner (``route_room_events``): such a room's events reach
    only its owner's queue, and the owners get none of the other kinds of events than those
    in ``ROOM_READS``. In ``livekit.rtc`` nothing else reads a room's events (a request waits
    for its own answer, a stream for its own handle's events), and a room's queue reads only
    those kinds: every other event it got woke it to be passed on to nobody.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._pending: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        self._owners: dict[int, Any] = {}  # room handle -> the queue of its room
        self._owned: dict[int, int] = {}  # id of such a queue -> its room's handle

    def put(self, item: Any) -> None:
        with self._lock:
            loops = {loop for _, loop, _ in self._subscribers}
            for loop in loops:
                batch = self._pending.get(loop)
                if batch is not None:
                    batch.append(item)
                    continue
                self._pending[loop] = [item]
                try:
                    loop.call_soon_threadsafe(self._drain, loop)
                except RuntimeError:  # the loop is closed: its subscribers are gone
                    del self._pending[loop]

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch = self._pending.pop(loop, [])
            subscribers = [entry for entry in self._subscribers if entry[1] is loop]
            owners = dict(self._owners)
            others = [entry for entry in subscribers if id(entry[0]) not in self._owned]
        here = {id(queue) for queue, _, _ in subscribers}
        answers = _answers()
        for item in batch:
            kind = item.WhichOneof("message")
            if kind == "room_event":
                owner = owners.get(item.room_event.room_handle)
                if owner is not None:  # on this loop, or (a loop of its own) not here at all
                    if id(owner) in here:
                        owner.put_nowait(item)
                    continue
            for queue, _, keep in others if kind in answers else subscribers:
                try:
                    wanted = keep is None or keep(item)
                except Exception:  # noqa: BLE001 - as upstream: a failing filter delivers
                    wanted = True
                if wanted:
                    queue.put_nowait(item)

    def own(self, handle: int, queue: Any) -> None:
        """Room events of room ``handle`` go to ``queue`` (a subscriber) alone from now on."""
        with self._lock:
            self._owners[handle] = queue
            self._owned[id(queue)] = handle

    def subscribe(
        self, loop: asyncio.AbstractEventLoop | None = None, filter_fn: Filter | None = None
    ) -> Any:
        from livekit.rtc._utils import Queue

        with self._lock:
            queue: Any = Queue()
            self._subscribers.append((queue, loop or asyncio.get_event_loop(), filter_fn))
            return queue

    def unsubscribe(self, queue: Any) -> None:
        with self._lock:
            handle = self._owned.pop(id(queue), None)
            if handle is not None:
                del self._owners[handle]
            for index, entry in enumerate(self._subscribers):
                if entry[0] is queue:
                    del self._subscribers[index]
                    return
