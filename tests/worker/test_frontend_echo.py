"""An agent heard on the user's speakers, through the real server: its voice (espeak-ng speech)
comes back into the user's microphone 100 ms late (plus the trip through the server) at -10 dB
over low noise. With echo cancellation off the echo interrupts the agent (the proof that the
echo path matters); with the echo guard on, the user's own words over the echo still stop it."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from bench.live_echo import AGENT, REPLY, Speakers, until_quiet
from livekitex_cli.testing import Hang, ScriptedOpenAI, Text
from tests.livekit_server import needs_server
from tests.speech import needs_espeak, speech_chunk
from tests.waiting import eventually
from tests.worker.test_frontend_playout import publish_mic

pytestmark = [needs_server, needs_espeak, pytest.mark.livekit]
RATE = 48_000


async def call(serve_agent: Any, openai: ScriptedOpenAI, *, echo: bool) -> tuple[Any, Speakers]:
    """A user who hears the agent on speakers and has asked for the reply."""
    openai.voice = lambda text: speech_chunk(text, 24_000).data
    openai.push(Text(REPLY))
    # an interruption's answer says nothing while we listen (nor would any later one: an agent
    # answering its own echo with speech would go on echoing itself past every timeout)
    openai.push(*[Hang(5.0)] * 4)
    user, agent, _ = await serve_agent(AGENT.format(guard=str(echo).lower()), f"echo-room-{echo}")
    mic, _ = await publish_mic(user, queue_ms=50)  # a microphone does not queue ahead
    speakers = Speakers(mic)
    async with asyncio.timeout(10):
        while not (tracks := [p.track for p in agent.track_publications.values() if p.track]):
            await asyncio.sleep(0.05)
    user._keep(speakers.run(tracks[0]))
    await user.say("tell me about the weather")
    return user, speakers


async def test_without_echo_cancellation_the_agent_interrupts_itself(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    """The echo path of these tests is real enough to matter: without the guard the agent hears
    itself, stops and answers its own echo. (With the guard on, the agent talked to the end in
    21 of 22 such calls with a busy core beside, against 3 of 12 on the same rig and load
    before the guard timed the microphone by its frames, placed a resumed reply where it plays
    and held down what the canceller leaves; the one left came back 0.64 s late. Not a test
    while it fails at all: ``python -m bench live_echo`` counts such calls, with this rig.)"""
    _, speakers = await call(serve_agent, threaded_openai, echo=False)
    heard = await until_quiet(speakers)
    # what answers speech that stopped the agent comes after that speech has ended, the
    # end-of-turn wait and the STT: on a busy machine, later than ``until_quiet``'s 1.5 s
    assert await eventually(lambda: threaded_openai.stt_requests >= 1), heard
    assert await eventually(lambda: len(threaded_openai.chat_requests) >= 2)


async def test_the_user_speaking_over_the_echo_still_interrupts(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    full = len(speech_chunk(REPLY).data) / 2 / 16_000
    _, speakers = await call(serve_agent, threaded_openai, echo=True)
    async with asyncio.timeout(20):
        while speakers.voiced < 1.0:
            assert len(threaded_openai.chat_requests) < 2, "the echo interrupted the agent"
            await asyncio.sleep(0.02)
    speakers.say(np.frombuffer(speech_chunk("Stop please.", RATE).data, np.int16))
    heard = await until_quiet(speakers)
    assert await eventually(lambda: threaded_openai.stt_requests >= 1)
    # the user's words were answered
    assert await eventually(lambda: len(threaded_openai.chat_requests) >= 2)
    assert heard < full - 1.0, (heard, full)  # and the agent's voice was cut
