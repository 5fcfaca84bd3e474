"""``PausableOutput``: paused, the agent is silent at once and keeps what it had not played;
resumed, it goes on from that very sample; cleared, nothing held is ever played.

The speaker below plays frames only when the test says so, so every sample can be followed:
what it played must be the reply's audio, in order, each sample once."""

from __future__ import annotations

import asyncio

from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.session.playout import PausableOutput

RATE = 16_000
FRAME = 160  # samples: 10 ms


class Speaker:
    """An output that plays its queue when ``play`` is called."""

    def __init__(self) -> None:
        self.queue: list[AudioChunk] = []
        self.played = bytearray()

    async def capture(self, frame: AudioChunk) -> None:
        self.queue.append(frame)

    def clear(self) -> None:
        self.queue.clear()

    @property
    def queued(self) -> float:
        return sum(frame.duration for frame in self.queue)

    def play(self, frames: int | None = None) -> None:
        count = len(self.queue) if frames is None else frames
        for frame in self.queue[:count]:
            self.played += frame.data
        del self.queue[:count]

    async def wait_for_playout(self) -> None:
        while self.queue:
            await asyncio.sleep(0.001)


def frame(index: int) -> AudioChunk:
    """10 ms whose samples count up from ``index * FRAME``: any loss or repeat shows."""
    start = index * FRAME
    samples = bytearray()
    for value in range(start, start + FRAME):
        samples += (value % 30_000).to_bytes(2, "little", signed=True)
    return AudioChunk(bytes(samples), RATE, 1)


def audio(first: int, last: int) -> bytes:
    return b"".join(frame(i).data for i in range(first, last))


async def test_a_paused_output_is_silent_and_goes_on_from_the_same_sample() -> None:
    speaker = Speaker()
    output = PausableOutput(speaker)
    for index in range(20):
        await output.capture(frame(index))
    speaker.play(5)
    assert output.pause() == 0.15  # the 15 frames not played yet, taken back
    assert speaker.queue == [] and output.queued == 0.15  # nothing left to sound
    later = asyncio.ensure_future(output.capture(frame(20)))  # the reply goes on: it waits
    await asyncio.sleep(0.01)
    assert not later.done() and speaker.queue == []
    output.resume()
    await later
    speaker.play()
    assert bytes(speaker.played) == audio(0, 21)  # every sample once, in order


async def test_a_pause_in_the_middle_of_a_frame_keeps_the_rest_of_it() -> None:
    speaker = Speaker()
    output = PausableOutput(speaker)
    for index in range(4):
        await output.capture(frame(index))
    speaker.play(1)
    half = speaker.queue[0]  # the speaker has played half of frame 1 by now
    speaker.played += half.data[: len(half.data) // 2]
    speaker.queue[0] = AudioChunk(half.data[len(half.data) // 2 :], RATE, 1)
    output.pause()
    output.resume()
    await asyncio.sleep(0.01)
    speaker.play()
    assert bytes(speaker.played) == audio(0, 4)


async def test_paused_twice_while_resuming_loses_and_repeats_nothing() -> None:
    speaker = Speaker()
    output = PausableOutput(speaker)
    for index in range(10):
        await output.capture(frame(index))
    output.pause()
    output.resume()
    await asyncio.sleep(0)  # the held frames are being fed back
    speaker.play(2)
    output.pause()  # a second sound from the user
    await asyncio.sleep(0.01)
    output.resume()
    await asyncio.sleep(0.01)
    await output.capture(frame(10))
    speaker.play()
    assert bytes(speaker.played) == audio(0, 11)


async def test_cleared_while_paused_nothing_held_is_played_and_the_reply_is_not_stuck() -> None:
    speaker = Speaker()
    output = PausableOutput(speaker)
    for index in range(10):
        await output.capture(frame(index))
    speaker.play(3)
    output.pause()
    waiting = asyncio.ensure_future(output.wait_for_playout())
    blocked = asyncio.ensure_future(output.capture(frame(10)))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # paused: the reply is not over
    blocked.cancel()  # an interruption: the reply's speaker is cancelled, the output cleared
    output.clear()
    async with asyncio.timeout(1):
        await waiting
    speaker.play()
    assert bytes(speaker.played) == audio(0, 3) and output.queued == 0.0
