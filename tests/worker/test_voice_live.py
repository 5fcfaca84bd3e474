"""A spoken conversation through the real LiveKit server: mic track in, agent track out, and
transcriptions as LiveKit front ends read them (LiveKit's own agents send them the same way)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from livekit import rtc

from livekitex_cli.testing import ScriptedOpenAI, Text
from tests.livekit_server import needs_server
from tests.speech import join as join_audio
from tests.speech import needs_espeak, silence_chunk, speech_chunk
from tests.worker.conftest import VOICE_AGENT

pytestmark = [needs_server, needs_espeak, pytest.mark.livekit]


async def test_spoken_question_gets_transcripts_and_audio(
    serve_agent: Any, threaded_openai: ScriptedOpenAI
) -> None:
    threaded_openai.transcript = "what is the weather in paris"
    threaded_openai.push(Text("It is sunny in Paris."))
    user, agent, _ = await serve_agent(VOICE_AGENT, "voice-room")

    heard: list[rtc.AudioFrame] = []
    subscribed = asyncio.Event()

    def on_track(track: rtc.Track, *_: Any) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            subscribed.set()

            async def listen() -> None:
                async for event in rtc.AudioStream.from_track(
                    track=track, sample_rate=48_000, num_channels=1
                ):
                    heard.append(event.frame)

            user._keep(listen())

    user.room.on("track_subscribed", on_track)
    for publication in agent.track_publications.values():
        if publication.track is not None:
            on_track(publication.track)

    source = rtc.AudioSource(48_000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    mic = await user.room.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    speech = join_audio(
        silence_chunk(0.5, 48_000),
        speech_chunk("What is the weather in Paris?", 48_000),
        silence_chunk(1.2, 48_000),
    )
    step = 480 * 2  # 10 ms frames, played out in real time by the source
    for start in range(0, len(speech.data), step):
        piece = speech.data[start : start + step]
        await source.capture_frame(rtc.AudioFrame(piece, 48_000, 1, len(piece) // 2))

    for _ in range(400):  # bounded: 20 s
        if any(t[1] == "It is sunny in Paris." for t in user.transcripts):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(
            f"no agent transcript: {user.transcripts}, stt: {threaded_openai.stt_requests}"
        )
    await asyncio.wait_for(subscribed.wait(), 10)

    def loudest() -> int:
        return max(
            (int(np.abs(np.frombuffer(bytes(f.data), np.int16)).max()) for f in heard), default=0
        )

    for _ in range(200):  # bounded: 10 s for the agent's voice to arrive on the track
        if loudest() > 1000:
            break
        await asyncio.sleep(0.05)

    texts = [text for _, text, _ in user.transcripts]
    assert "what is the weather in paris" in texts  # the user's words, published by the agent
    sender, _, asked = await user.transcript("what is the weather in paris")
    assert sender == "user"  # sent as the user: front ends group transcriptions by sender
    assert asked["lk.transcription_final"] == "true"
    assert asked["lk.transcribed_track_id"] == mic.sid  # the user's microphone
    voice = next(
        p.sid for p in agent.track_publications.values() if p.kind == rtc.TrackKind.KIND_AUDIO
    )
    said = [t for t in user.transcripts if t[0] == agent.identity]
    assert [text for _, text, _ in said] == ["It is sunny in Paris."]  # one stream, all deltas
    spoken = said[0][2]
    assert spoken["lk.transcription_final"] == "true"  # set when the reply's stream closes
    assert spoken["lk.transcribed_track_id"] == voice  # the agent's published voice
    assert spoken["lk.segment_id"] and asked["lk.segment_id"]
    assert spoken["lk.segment_id"] != asked["lk.segment_id"]  # two speakers, two segments
    assert threaded_openai.stt_requests == 1
    # the STT got the spoken question (1.9 s of espeak-ng at -22 dBFS), not silence or a part
    (question,) = threaded_openai.stt_audio
    assert 1.2 < question.seconds < 4.0 and question.dbfs > -35, question
    assert threaded_openai.tts_requests == ["It is sunny in Paris."]
    assert loudest() > 1000  # the agent's voice is on the track, not silence
    await source.aclose()
