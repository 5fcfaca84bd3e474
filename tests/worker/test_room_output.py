"""The agent's voice into a real ``rtc.AudioSource`` (no room needed), and what the echo guard
is told of when each frame plays out."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from livekit import rtc

from livekitex_cli.providers import AudioChunk
from livekitex_cli.worker.echo_guard import EchoGuard
from livekitex_cli.worker.room_output import RoomAudioOutput, quiet_library_noise

RATE = 48_000


class Told(EchoGuard):
    """An echo guard that also keeps when it was told each frame starts playing out."""

    def __init__(self) -> None:
        super().__init__(sample_rate=16_000, far_rate=RATE)
        self.starts: list[float] = []

    def played(self, frame: AudioChunk, at: float) -> None:
        self.starts.append(at)
        super().played(frame, at)


def silence(seconds: float) -> AudioChunk:
    return AudioChunk(bytes(2 * int(seconds * RATE)), RATE, 1)


async def test_frames_are_told_as_playing_behind_the_queue() -> None:
    guard = Told()
    output = RoomAudioOutput(rtc.AudioSource(RATE, 1), guard)
    before = time.monotonic()
    await output.capture(silence(0.5))
    await output.capture(silence(0.02))
    assert abs(guard.starts[0] - before) < 0.05
    assert abs(guard.starts[1] - (guard.starts[0] + 0.5)) < 0.05


async def test_a_frame_cleared_while_it_waited_for_room_plays_at_once() -> None:
    """The source holds a second; a frame waiting for room when the queue is cleared (a
    pause, an interruption) goes into the emptied queue and plays now. Told as queued behind the
    second that was cleared, the guard placed it, and the reply resumed after it, a second
    late: the resumed reply's echo was not taken out, and interrupted the agent."""
    guard = Told()
    output = RoomAudioOutput(rtc.AudioSource(RATE, 1), guard)
    await output.capture(silence(1.0))  # the queue is full: the next half second waits
    waiting = asyncio.ensure_future(output.capture(silence(0.5)))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    output.clear()
    cleared = time.monotonic()
    await asyncio.wait_for(waiting, 2.0)
    assert abs(guard.starts[-1] - cleared) < 0.1, guard.starts[-1] - cleared


def test_a_closed_rooms_teardown_is_debug_and_other_library_errors_still_show(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_library_noise()
    library = logging.getLogger("livekit")
    teardown = "rtc_session:739 - publisher data channel '_reliable' closed unexpectedly"
    with caplog.at_level(logging.INFO):
        library.error(teardown)
        library.warning("Attempted to drop unknown FFI handle: 12")
        library.error("failed to connect: refused")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "failed to connect: refused")
    ]
    caplog.clear()
    with caplog.at_level(logging.DEBUG):  # --log-level debug: shown, as what it is
        library.error(teardown)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("DEBUG", teardown)]
