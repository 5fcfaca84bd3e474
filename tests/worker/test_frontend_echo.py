"""An agent heard on the user's speakers, through the real server: its voice (espeak-ng speech)
comes back into the user's microphone 100 ms late (plus the trip through the server) at -10 dB
over low noise. With echo cancellation off the echo interrupts the agent (the proof that the
echo path matters); with the echo guard on, the user's own words over the echo still stop it."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import numpy as np
import pytest
from livekit import rtc

from livekitex_cli.testing import Hang, ScriptedOpenAI, Text
from tests.livekit_server import needs_server
from tests.speech import needs_espeak, speech_chunk
from tests.worker.test_frontend_playout import publish_mic

pytestmark = [needs_server, needs_espeak, pytest.mark.livekit]
RATE = 48_000
FRAME = 480  # samples in 10 ms: rtc.AudioStream yields 10 ms frames
REPLY = "The weather in the mountains stays cold and clear all week, with snow by Sunday."
AGENT = """\
name: echo-test
instructions: Be brief.
llm: {{provider: openai, model: scripted}}
stt: {{provider: openai}}
tts: {{provider: openai}}
vad: {{provider: energy, threshold_db: -35}}
turn:
  min_delay: 0.4
  interruption: {{backchannels: []}}   # balanced: 0.3 s of speech interrupts; no word rule
  echo_cancellation: {echo}
"""


class Speakers:
    """The user's speakers and microphone: each 10 ms of the agent's voice that arrives goes
    back into the microphone ``delay`` s later at ``gain_db``, over low noise, with the user's
    own speech (``say``) mixed in."""

    def __init__(self, mic: rtc.AudioSource, *, delay: float = 0.1, gain_db: float = -10) -> None:
        self.mic = mic
        self.gain = 10 ** (gain_db / 20)
        self.line: deque[np.ndarray] = deque(np.zeros(FRAME) for _ in range(int(delay * 100)))
        self.own = np.zeros(0)
        self.voiced = 0.0  # seconds of the agent's voice heard (frames above the noise)
        self.noise = np.random.default_rng(7)
        self.clock: tuple[float, int] | None = None  # (first frame's arrival, frames since)

    def say(self, text: str) -> None:
        self.own = np.frombuffer(speech_chunk(text, RATE).data, np.int16).astype(np.float64)

    async def run(self, track: rtc.Track) -> None:
        async for event in rtc.AudioStream.from_track(
            track=track, sample_rate=RATE, num_channels=1
        ):
            heard = np.frombuffer(bytes(event.frame.data), np.int16).astype(np.float64)
            if heard.size != FRAME or self._late():
                continue
            self.voiced += 0.01 * (np.abs(heard).max() > 1000)
            self.line.append(heard)
            mic = self.line.popleft() * self.gain + self.noise.normal(0.0, 30.0, FRAME)
            own, self.own = self.own[:FRAME], self.own[FRAME:]
            mic[: own.size] += own
            if self.mic.queued_duration > 0.03:
                continue  # this process fell behind: drop, or the echo's delay would grow
            pcm = mic.clip(-32768, 32767).astype(np.int16).tobytes()
            await self.mic.capture_frame(rtc.AudioFrame(pcm, RATE, 1, FRAME))

    def _late(self) -> bool:
        """Whether this frame reached the test late (its loop was busy): a speaker plays in
        real time, so such frames are not echoed, or the echo's delay would grow with the
        backlog (1 s was seen under load, which no speaker does)."""
        now = time.monotonic()
        start, count = self.clock or (now, 0)
        self.clock = min(start, now - count * 0.01), count + 1
        late = now - (self.clock[0] + count * 0.01)
        if late > 0.5:  # a stream that paused rather than a backlog: timed afresh
            self.clock = now, 1
        return 0.05 < late <= 0.5


async def call(serve_agent: Any, openai: ScriptedOpenAI, *, echo: bool) -> tuple[Any, Speakers]:
    """A user who hears the agent on speakers and has asked for the reply."""
    openai.voice = lambda text: speech_chunk(text, 24_000).data
    openai.push(Text(REPLY))
    # an interruption's answer says nothing while we listen (nor would any later one: an agent
    # answering its own echo with speech would go on echoing itself past every timeout)
    openai.push(*[Hang(5.0)] * 4)
    user, agent, _ = await serve_agent(AGENT.format(echo=str(echo).lower()), f"echo-room-{echo}")
    mic, _ = await publish_mic(user, queue_ms=50)  # a microphone does not queue ahead
    speakers = Speakers(mic)
    async with asyncio.timeout(10):
        while not (tracks := [p.track for p in agent.track_publications.values() if p.track]):
            await asyncio.sleep(0.05)
    user._keep(speakers.run(tracks[0]))
    await user.say("tell me about the weather")
    return user, speakers


async def heard_until_quiet(speakers: Speakers, *, quiet: float = 1.5) -> float:
    """Seconds of the agent's voice heard, once it has been silent for ``quiet`` s."""
    async with asyncio.timeout(30):
        while speakers.voiced == 0:
            await asyncio.sleep(0.05)
        last, still = speakers.voiced, 0.0
        while still < quiet:
            await asyncio.sleep(0.1)
            still = still + 0.1 if speakers.voiced == last else 0.0
            last = speakers.voiced
    return speakers.voiced


async def test_without_echo_cancellation_the_agent_interrupts_itself(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    """The echo path of these tests is real enough to matter: without the guard the agent hears
    itself, stops and answers its own echo. (With the guard on, the agent talked to the end in
    21 of 22 such calls with a busy core beside, against 3 of 12 on the same rig and load
    before the guard timed the microphone by its frames, placed a resumed reply where it plays
    and held down what the canceller leaves; the one left came back 0.64 s late. Not a test
    while it fails at all: see the closing note of #13.)"""
    _, speakers = await call(serve_agent, threaded_openai, echo=False)
    heard = await heard_until_quiet(speakers)
    assert threaded_openai.stt_requests >= 1, heard
    assert len(threaded_openai.chat_requests) >= 2


async def test_the_user_speaking_over_the_echo_still_interrupts(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    full = len(speech_chunk(REPLY).data) / 2 / 16_000
    _, speakers = await call(serve_agent, threaded_openai, echo=True)
    async with asyncio.timeout(20):
        while speakers.voiced < 1.0:
            assert len(threaded_openai.chat_requests) < 2, "the echo interrupted the agent"
            await asyncio.sleep(0.02)
    speakers.say("Stop please.")
    heard = await heard_until_quiet(speakers)
    assert threaded_openai.stt_requests >= 1
    assert len(threaded_openai.chat_requests) >= 2  # the user's words were answered
    assert heard < full - 1.0, (heard, full)  # and the agent's voice was cut
