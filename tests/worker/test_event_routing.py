"""The event delivery shim over ``livekit.rtc``'s private queue: it must be in place with the
installed ``livekit`` (a silent fallback would cost the worker its capacity) and must lose,
reorder or cross no event."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from livekit.rtc._ffi_client import FfiClient
from livekit.rtc._proto import ffi_pb2

from livekitex_cli.worker.event_routing import (
    _BatchedQueue,
    install_batched_delivery,
    route_room_events,
)
from tests.livekit_server import needs_server

END = 10_000  # an even id, after every other


def room_event(handle: int) -> ffi_pb2.FfiEvent:
    event = ffi_pb2.FfiEvent()
    event.room_event.room_handle = handle
    event.room_event.room_metadata_changed.metadata = str(handle)
    return event


def callback(async_id: int) -> ffi_pb2.FfiEvent:
    event = ffi_pb2.FfiEvent()
    event.send_text.async_id = async_id
    return event


def put_from_thread(queue: _BatchedQueue, events: list[Any]) -> None:
    """Events arrive on livekit's native thread, never on the loop's. The loop's thread waits
    here, so every event is put before the loop can run again: a burst, as under load."""
    thread = threading.Thread(target=lambda: [queue.put(event) for event in events])
    thread.start()
    thread.join(5)
    assert not thread.is_alive()


async def drain(queue: Any, count: int) -> list[Any]:
    async with asyncio.timeout(5):
        return [await queue.get() for _ in range(count)]


async def test_batched_queue_keeps_order_and_filters_on_the_loop() -> None:
    queue = _BatchedQueue()
    everything = queue.subscribe()
    only_even = queue.subscribe(filter_fn=lambda event: event.send_text.async_id % 2 == 0)
    broken = queue.subscribe(
        filter_fn=lambda event: 1 / 0
    )  # as upstream: a failing filter delivers
    gone = queue.subscribe()
    queue.unsubscribe(gone)
    events = [callback(index) for index in range(200)]
    put_from_thread(queue, events)
    put_from_thread(queue, [callback(END)])  # the last event: nothing may come after it
    assert [e.send_text.async_id for e in await drain(everything, 201)] == [*range(200), END]
    assert [e.send_text.async_id for e in await drain(only_even, 101)] == [*range(0, 200, 2), END]
    assert len(await drain(broken, 201)) == 201
    # the end marker reached every subscriber in the same fan-out on the loop, so anything
    # meant for the unsubscribed queue would be there by now
    assert gone.empty() and only_even.empty() and everything.empty()


async def test_batched_queue_wakes_the_loop_once_per_batch() -> None:
    queue = _BatchedQueue()
    subscribers = [queue.subscribe() for _ in range(50)]
    loop = asyncio.get_running_loop()
    wakeups = 0
    original = loop.call_soon_threadsafe

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal wakeups
        wakeups += 1
        return original(*args, **kwargs)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        put_from_thread(queue, [callback(index) for index in range(100)])
    finally:
        del loop.call_soon_threadsafe
    for subscriber in subscribers:
        assert [e.send_text.async_id for e in await drain(subscriber, 100)] == list(range(100))
    # upstream wakes the loop 50 x 100 times, once per subscriber and event; the burst came
    # while the loop was busy, so batched it is one wake-up for all 100 events
    assert wakeups == 1


async def test_a_rooms_own_events_reach_its_queue_alone() -> None:
    queue = _BatchedQueue()
    connecting = queue.subscribe(filter_fn=lambda event: True)  # a room before its handle
    waiting = queue.subscribe()  # a request waiting for its answer
    owner = queue.subscribe()
    queue.own(7, owner)
    published = ffi_pb2.FfiEvent()
    published.publish_track.async_id = 2  # the answer a room's own participant waits for
    events = [room_event(7), room_event(8), callback(1), published, room_event(7)]
    put_from_thread(queue, [*events, room_event(END)])
    seen = {
        name: [(e.WhichOneof("message"), e.room_event.room_handle) for e in await drain(q, n)]
        for name, q, n in (("connecting", connecting, 4), ("waiting", waiting, 4),
                           ("owner", owner, 5))
    }  # fmt: skip
    answer, answer_to_room = ("send_text", 0), ("publish_track", 0)
    assert (
        seen["connecting"]
        == seen["waiting"]
        == [("room_event", 8), answer, answer_to_room, ("room_event", END)]
    )
    # the answer to someone else's request (send_text) is not the room's to read
    assert seen["owner"] == [
        ("room_event", 7),
        ("room_event", 8),
        answer_to_room,
        ("room_event", 7),
        ("room_event", END),
    ]
    assert connecting.empty() and waiting.empty() and owner.empty()
    queue.unsubscribe(owner)  # a room that has gone owns nothing: its events go to everyone
    assert queue._owners == {} and queue._owned == {}
    put_from_thread(queue, [room_event(7)])
    assert [e.room_event.room_handle for e in await drain(waiting, 1)] == [7]
    assert connecting.qsize() == 1 and owner.empty()


def test_a_closed_loop_does_not_break_delivery_to_others() -> None:
    queue = _BatchedQueue()
    closed = asyncio.new_event_loop()
    queue.subscribe(loop=closed)
    closed.close()
    queue.put(callback(1))  # must not raise on the native thread
    assert queue._pending == {}


@needs_server
@pytest.mark.livekit
async def test_routing_is_in_place_with_the_installed_livekit(join: Any) -> None:
    first = await join("routing-a", None, identity="a")
    second = await join("routing-b", None, identity="b")
    assert install_batched_delivery() is True  # idempotent: routing the rooms installed it
    assert isinstance(FfiClient.instance.queue, _BatchedQueue)
    handles = {}
    for person in (first, second):
        assert route_room_events(person.room) is True
        handles[person.room.name] = person.room._ffi_handle.handle
    filters = {
        person.room.name: next(
            keep for queue, _, keep in FfiClient.instance.queue._subscribers
            if queue is person.room._ffi_queue
        )
        for person in (first, second)
    }  # fmt: skip
    a, b = handles["routing-a"], handles["routing-b"]
    assert filters["routing-a"](room_event(a)) and not filters["routing-a"](room_event(b))
    assert filters["routing-b"](room_event(b)) and not filters["routing-b"](room_event(a))
    assert filters["routing-a"](callback(7))  # request callbacks still reach every room
    # a room still connecting, or a request waiting for its answer, gets no routed room's
    # events: it would hold them all until its connect returned (or wake for each one)
    bystander = FfiClient.instance.queue.subscribe()
    # and the rooms still work: chat reaches the users of its own room, and only them
    neighbour = await join("routing-b", None, identity="b2")
    fellow = await join("routing-a", None, identity="a2")
    await first.say("from room a")
    assert await fellow.next_chat(timeout=10) == "from room a"
    await second.say("from room b")
    assert await neighbour.next_chat(timeout=10) == "from room b"
    # last words in each room: had "from room a" crossed into room b (or "from room b" into
    # room a), it would have been queued before these, which were sent after it arrived
    await second.say("end of b")
    await fellow.say("end of a")
    assert await neighbour.next_chat(timeout=10) == "end of b"
    assert await first.next_chat(timeout=10) == "end of a"
    assert neighbour.chat.empty() and first.chat.empty()
    crossed = []
    while not bystander.empty():
        event = bystander.get_nowait()
        if event.WhichOneof("message") == "room_event":
            crossed.append(event.room_event.room_handle)
    FfiClient.instance.queue.unsubscribe(bystander)
    assert a not in crossed and b not in crossed
