"""What a LiveKit front end sees of a speaking agent, through the real server: the agent's state
follows the voice the user actually hears, and an interruption cuts the voice at once and leaves
in the history only what was heard (not what was still queued for playout)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
from livekit import rtc

from livekitex_cli.providers import AudioChunk
from livekitex_cli.testing import Hang, ScriptedOpenAI, Text
from tests.livekit_server import needs_server
from tests.speech import join as join_audio
from tests.speech import needs_espeak, silence_chunk, speech_chunk
from tests.worker.conftest import VOICE_AGENT

pytestmark = [needs_server, needs_espeak, pytest.mark.livekit]
LOUD = 1000  # the scripted TTS tone peaks near 8000; silence and codec noise stay far below
FRAME = 0.01  # rtc.AudioStream yields 10 ms frames


class FrontEnd:
    """What a front end sees of the agent: its ``lk.agent.state`` and its voice, each timed
    on arrival."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.states: list[tuple[float, str]] = []
        self.frames: list[tuple[float, int]] = []  # arrival, peak
        self.subscribed = asyncio.Event()
        self._listened: set[str] = set()
        user.room.on("participant_attributes_changed", self._on_attributes)
        user.room.on("track_subscribed", self._on_track)

    async def start(self) -> None:
        agent = await self.user.wait_agent()
        for publication in agent.track_publications.values():
            if publication.track is not None:
                self._on_track(publication.track, publication, agent)
        await asyncio.wait_for(self.subscribed.wait(), 10)

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if "lk.agent.state" in changed:
            self.states.append((time.monotonic(), changed["lk.agent.state"]))

    def _on_track(self, track: rtc.Track, publication: Any, participant: Any) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO or track.sid in self._listened:
            return
        self._listened.add(track.sid)
        self.subscribed.set()

        async def listen() -> None:
            async for event in rtc.AudioStream.from_track(
                track=track, sample_rate=48_000, num_channels=1
            ):
                peak = int(np.abs(np.frombuffer(bytes(event.frame.data), np.int16)).max())
                self.frames.append((time.monotonic(), peak))

        self.user._keep(listen())

    def loud(self, since: float = 0.0) -> list[float]:
        """Arrival times of the frames that carry the agent's voice."""
        return [at for at, peak in self.frames if peak > LOUD and at >= since]

    def heard_seconds(self, since: float = 0.0) -> float:
        return len(self.loud(since)) * FRAME

    def speaking(self) -> tuple[float, float]:
        """When ``speaking`` arrived and when the next state did (the first such span)."""
        start = next(at for at, state in self.states if state == "speaking")
        end = next(at for at, state in self.states if at >= start and state != "speaking")
        return start, end

    async def wait_for(
        self, state: str, *, after: float, other: bool = False, timeout: float = 20.0
    ) -> float:
        """When ``state`` (``other``: any state but it) arrived after ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, seen in self.states:
                if at >= after and (seen != state if other else seen == state):
                    return at
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {'other than ' * other}{state!r} in {timeout} s: {self.states}")

    async def wait_quiet(self, since: float, *, quiet: float = 0.4, timeout: float = 20.0) -> None:
        """Until the agent's voice, heard since ``since``, has been silent for ``quiet`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (loud := self.loud(since)) and time.monotonic() - loud[-1] >= quiet:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"no end of the voice within {timeout} s: heard {len(loud)} frames")

    async def wait_heard(self, seconds: float, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.heard_seconds() >= seconds:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"not {seconds} s of voice within {timeout} s: {self.heard_seconds()}")


async def publish_mic(user: Any, *, queue_ms: int = 1000) -> tuple[rtc.AudioSource, str]:
    """The user's microphone (source, track sid), once the agent has subscribed to it: its
    connection for receiving is up then (LiveKit drops what is sent to it before)."""
    source = rtc.AudioSource(48_000, 1, queue_size_ms=queue_ms)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    publication = await user.room.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    await asyncio.wait_for(publication.wait_for_subscription(), 10)
    return source, publication.sid


async def play(source: rtc.AudioSource, audio: AudioChunk) -> None:
    """Into the microphone in 10 ms frames; the source plays them out in real time."""
    step = 480 * 2
    for start in range(0, len(audio.data), step):
        piece = audio.data[start : start + step]
        await source.capture_frame(rtc.AudioFrame(piece, 48_000, 1, len(piece) // 2))


async def voice_room(serve_agent: Any, room: str, agent: str = VOICE_AGENT) -> FrontEnd:
    user, _, _ = await serve_agent(agent, room)
    front = FrontEnd(user)
    await front.start()
    return front


async def test_the_agent_is_speaking_while_its_voice_is_heard(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    threaded_openai.seconds_per_char = 0.05
    reply = "It is sunny in Paris today."  # 27 characters: 1.35 s of voice
    threaded_openai.push(Text(reply))
    front = await voice_room(serve_agent, "playout-room")
    await publish_mic(front.user)
    asked = time.monotonic()
    await front.user.say("what is the weather")
    started = await front.wait_for("speaking", after=asked)  # (fails if no TTS audio at all)
    await front.wait_for("listening", after=started)
    await front.wait_quiet(asked)

    loud = front.loud(asked)
    heard = front.heard_seconds(asked)
    start, end = front.speaking()
    assert 1.0 < heard < 2.0, heard  # the reply's 1.35 s (a late packet may be stretched)
    # speaking for as long as the voice is heard: not 40 ms while a second plays on
    # (the margins absorb a loaded machine: this test process stamps frames and states late)
    assert end - start >= heard - 0.3, (end - start, heard)
    assert end >= loud[-1] - 0.35, (end - loud[-1], heard)
    assert end <= loud[-1] + 1.0, (end - loud[-1], heard)  # and listening again after it


async def test_an_interruption_cuts_the_voice_and_keeps_what_was_heard(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    threaded_openai.seconds_per_char = 0.05
    sentence = "The cat saw the red dog run far. "  # 3-letter words: 0.2 s of voice a word
    threaded_openai.push(Text((sentence * 5).strip()))
    threaded_openai.push(Hang(5.0))  # no voice answers the interruption while we measure
    threaded_openai.transcript = "stop please"
    front = await voice_room(serve_agent, "interrupt-room")
    mic, _ = await publish_mic(front.user)
    await front.user.say("tell me a story")
    await front.wait_heard(1.5)  # well into the reply, with a second of it queued behind

    speech_at = time.monotonic()
    await play(mic, join_audio(speech_chunk("Stop please.", 48_000), silence_chunk(1.0, 48_000)))
    async with asyncio.timeout(40):  # the interruption is answered: its history is in the request
        while len(threaded_openai.chat_requests) < 2:
            await asyncio.sleep(0.05)

    cut = await front.wait_for("speaking", after=speech_at, other=True)
    voice_ends = front.loud()[-1]
    heard = front.heard_seconds()
    history = threaded_openai.chat_requests[1]["messages"]
    kept = next(m["content"] for m in history if m["role"] == "assistant")
    kept_seconds = len(kept.split()) * 0.2
    # VAD start (0.1 s of speech) and the way there and back; a loaded machine adds to both
    assert voice_ends - speech_at < 1.5
    assert voice_ends - cut < 0.5  # nothing plays on once the agent has stopped speaking
    assert heard < 3.0  # the voice was cut, not played to the end (8 s)
    # the history keeps the words heard, within about a word, not the second still queued
    assert abs(kept_seconds - heard) <= 0.45, (kept_seconds, heard, kept)


async def test_a_backchannel_holds_the_voice_and_it_goes_on_from_where_it_stopped(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    threaded_openai.seconds_per_char = 0.05
    sentence = "The cat saw the red dog run far. "
    threaded_openai.push(Text((sentence * 3).strip()))  # 98 characters: 4.9 s of voice
    threaded_openai.transcript = "Mhm."
    agent = VOICE_AGENT + "turn: {preset: balanced}\n"  # pause_on_speech: on
    front = await voice_room(serve_agent, "backchannel-room", agent)
    mic, _ = await publish_mic(front.user)
    await front.user.say("tell me a story")
    await front.wait_heard(1.5)

    speech_at = time.monotonic()
    await play(mic, join_audio(speech_chunk("Mhm.", 48_000), silence_chunk(2.0, 48_000)))
    await front.wait_for("listening", after=speech_at, timeout=30)
    await front.wait_quiet(speech_at)

    loud = front.loud()
    gaps = [(b - a, a) for a, b in zip(loud, loud[1:], strict=False) if a >= speech_at - 0.2]
    gap, gap_from = max(gaps)
    assert gap >= 0.3, gaps  # the voice was held while the 'mhm' was judged...
    assert gap_from - speech_at < 1.0, gap_from - speech_at  # ...from soon after it began
    assert loud[-1] > gap_from + gap  # and went on after it
    # nothing lost, nothing doubled: the whole reply was heard, once
    assert 4.4 < front.heard_seconds() < 5.6, front.heard_seconds()
    assert len(threaded_openai.chat_requests) == 1  # the 'mhm' was no turn
