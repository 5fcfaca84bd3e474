"""Listening and speaking are independent, through the real server: an agent with STT and no
TTS hears the room's microphone and answers in text."""

from __future__ import annotations

from typing import Any

import pytest
from livekit import rtc

from livekitex_cli.testing import ScriptedOpenAI, Text
from tests.livekit_server import needs_server
from tests.speech import join as join_audio
from tests.speech import needs_espeak, silence_chunk, speech_chunk
from tests.worker.test_frontend_playout import play, publish_mic

pytestmark = [needs_server, needs_espeak, pytest.mark.livekit]
LISTENING_AGENT = """\
name: ears-test
instructions: Be brief.
llm: {provider: openai, model: scripted}
stt: {provider: openai}
vad: {provider: energy, threshold_db: -35}
min_endpointing_delay: 0.4
"""


async def test_an_agent_without_a_voice_hears_the_microphone_and_answers_in_text(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    threaded_openai.transcript = "what is the weather in paris"
    threaded_openai.push(Text("It is sunny in Paris."))
    user, agent, _ = await serve_agent(LISTENING_AGENT, "ears-room")
    mic, mic_sid = await publish_mic(user)
    await play(
        mic,
        join_audio(
            silence_chunk(0.5, 48_000),
            speech_chunk("What is the weather in Paris?", 48_000),
            silence_chunk(1.2, 48_000),
        ),
    )

    assert await user.next_chat(20) == "It is sunny in Paris."  # heard, answered in text
    assert threaded_openai.stt_requests == 1 and threaded_openai.tts_requests == []
    asked = await user.transcript("what is the weather in paris")
    assert asked[0] == "user" and asked[2]["lk.transcribed_track_id"] == mic_sid
    said = await user.transcript("It is sunny in Paris.")
    assert said[0] == agent.identity and said[2]["lk.transcription_final"] == "true"
    assert "lk.transcribed_track_id" not in said[2]  # it publishes no voice
    assert not [p for p in agent.track_publications.values() if p.kind == rtc.TrackKind.KIND_AUDIO]
