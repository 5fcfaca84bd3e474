"""The audio path with real speech (espeak-ng): VAD turns, STT, sentence TTS, interruptions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from livekitex_cli import ValidationError
from livekitex_cli.providers import AudioChunk
from livekitex_cli.session import PacedOutput
from livekitex_cli.testing import ScriptedOpenAI, Status, Text
from tests.session.conftest import openai_agent
from tests.speech import join, needs_espeak, noise_chunk, silence_chunk, speech_chunk

pytestmark = needs_espeak
RATE = 48_000
TEN_MS = RATE // 100 * 2


async def push(session: Any, audio: AudioChunk, *, chunk_bytes: int = TEN_MS) -> None:
    for start in range(0, len(audio.data), chunk_bytes):
        await session.process_audio(
            audio.data[start : start + chunk_bytes],
            sample_rate=audio.sample_rate,
            channels=audio.channels,
        )


def utterance(text: str, *, pause: float = 1.0) -> AudioChunk:
    return join(silence_chunk(0.3, RATE), speech_chunk(text, RATE), silence_chunk(pause, RATE))


async def test_spoken_turn_end_to_end(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    openai_server.transcript = "what is the weather in paris"
    openai_server.push(Text("It is sunny in Paris today. Take your sunglasses with you!"))
    agent = openai_agent(voice=True, min_endpointing_delay=0.4)
    session, events = await session_factory(agent, audio_output=PacedOutput(realtime=False))
    await push(session, utterance("What is the weather in Paris?"))
    await session.wait_idle(15)
    assert len(events.of("user_speech_started")) == 1
    assert [e.text for e in events.of("user_transcript")] == ["what is the weather in paris"]
    assert openai_server.stt_requests == 1
    assert openai_server.tts_requests == [
        "It is sunny in Paris today.",
        "Take your sunglasses with you!",
    ]
    frames = [e.frame for e in events.of("agent_audio")]
    assert frames and all(f.sample_rate == session.output_sample_rate for f in frames)
    spoken = sum(f.duration for f in frames)
    expected = sum(len(t) for t in openai_server.tts_requests) * openai_server.seconds_per_char
    assert abs(spoken - expected) < 0.1
    reply = events.of("agent_reply")[-1]
    assert reply.source == "audio" and not reply.interrupted
    turn = events.of("metrics")[-1].metrics
    assert 400 <= turn["vad_end_of_speech_delay_ms"] <= 400 + 2 * 32 + 1
    assert turn["stt_duration_ms"] > 0 and turn["tts_ttfb_ms"] > 0 and turn["response_time_ms"] > 0
    assert session.metrics()["audio_segments_processed"] == 1


async def test_first_audio_leaves_before_the_reply_is_complete(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    text = "First sentence is short. " + "Then a much longer second sentence follows. " * 4
    openai_server.push(Text(text, chunk_chars=5, delay=0.02))
    session, events = await session_factory(
        openai_agent(voice=True), audio_output=PacedOutput(realtime=False)
    )
    await session.process_text("talk to me")
    await session.wait_idle(15)
    kinds = [e.type for e in events.events if e.type in ("agent_text", "agent_audio")]
    first_audio = kinds.index("agent_audio")
    last_text = len(kinds) - 1 - kinds[::-1].index("agent_text")
    assert first_audio < last_text
    assert len(openai_server.tts_requests) == 5


async def test_silence_and_quiet_noise_make_no_turn(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(openai_agent(voice=True))
    await push(session, join(silence_chunk(1.5, RATE), noise_chunk(1.5, RATE, level=0.003)))
    await session.end_audio()
    await asyncio.sleep(0.1)
    assert events.of("user_speech_started") == []
    assert openai_server.stt_requests == 0


async def test_user_speech_interrupts_the_agent(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.seconds_per_char = 0.08  # long agent audio, played in real time
    long_reply = "Let me tell you a very long story about the weather. " * 3
    openai_server.push(Text(long_reply))
    openai_server.transcript = "stop please"
    session, events = await session_factory(openai_agent(voice=True, min_endpointing_delay=0.3))
    await session.process_text("tell me a story")
    for _ in range(200):  # wait until the agent has spoken for a while (bounded)
        if sum(e.frame.duration for e in events.of("agent_audio")) > 0.6:
            break
        await asyncio.sleep(0.02)
    assert session.state == "speaking"
    frames_before = len(events.of("agent_audio"))
    await push(session, utterance("Stop please.", pause=0.6))
    await session.wait_idle(15)
    started_at = events.events.index(events.of("user_speech_started")[0])
    after = [e for e in events.events[started_at:] if e.type == "agent_audio"]
    interrupted = events.of("agent_reply")[0]
    assert interrupted.interrupted
    assert len([e for e in after if e.turn_id == interrupted.turn_id]) <= 1
    assert 0 < len(interrupted.text) < len(long_reply.strip())
    assert long_reply.startswith(interrupted.text.split(" ")[0])
    turns = session.conversation_state()["turns"]
    agent_turn = next(t for t in turns if t["role"] == "agent")
    assert agent_turn["content"] == interrupted.text and agent_turn["metadata"]["interrupted"]
    assert frames_before > 0
    assert session.metrics()["interruptions"] == 1
    assert events.of("user_transcript")[0].text == "stop please"  # the interruption is answered


async def test_the_agent_is_speaking_until_its_audio_is_played_out(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.seconds_per_char = 0.05
    openai_server.push(Text("It is sunny in Paris today."))  # 1.35 s of audio
    # a second of playout queue, like a LiveKit AudioSource: capture runs a second ahead
    session, events = await session_factory(
        openai_agent(voice=True), audio_output=PacedOutput(buffer=1.0)
    )
    changes: list[tuple[float, str]] = []
    session.on("state_changed", lambda event: changes.append((time.monotonic(), event.new)))
    await session.process_text("what is the weather")
    await session.wait_idle(10)
    speaking = next(at for at, state in changes if state == "speaking")
    listening = next(at for at, state in changes if at > speaking and state == "listening")
    audio = sum(e.frame.duration for e in events.of("agent_audio"))
    assert audio > 1.3
    assert listening - speaking >= audio - 0.1  # not the 0.35 s it takes to fill the queue


async def test_an_interrupted_reply_keeps_what_was_played_not_what_was_queued(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.seconds_per_char = 0.05
    sentence = "The cat saw the red dog run far. "  # 3-letter words: 0.2 s of audio a word
    openai_server.push(Text((sentence * 5).strip()))
    session, events = await session_factory(
        openai_agent(voice=True), audio_output=PacedOutput(buffer=1.0)
    )
    await session.process_text("tell me a story")
    async with asyncio.timeout(10):
        while not events.of("agent_audio"):
            await asyncio.sleep(0.005)
    first = time.monotonic()
    await asyncio.sleep(1.5)
    played = time.monotonic() - first
    assert session.interrupt()
    await session.wait_idle(10)
    reply = events.of("agent_reply")[0]
    assert reply.interrupted
    kept = len(reply.text.split()) * 0.2
    assert abs(kept - played) <= 0.3, (kept, played, reply.text)  # a second more was queued
    assert session.history.turns[-1].content == reply.text


async def test_no_interruption_when_disallowed(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.seconds_per_char = 0.02
    openai_server.push(Text("A reply that must be heard to the end."))
    agent = openai_agent(voice=True, allow_interruptions=False, min_endpointing_delay=0.3)
    session, events = await session_factory(agent)
    await session.process_text("go")
    for _ in range(100):
        if events.of("agent_audio"):
            break
        await asyncio.sleep(0.02)
    await push(session, utterance("Hello there.", pause=0.6))
    await session.wait_idle(15)
    replies = events.of("agent_reply")
    assert (
        not replies[0].interrupted and replies[0].text == "A reply that must be heard to the end."
    )
    assert len(replies) == 2  # the user's speech was answered after
    assert session.metrics()["interruptions"] == 0


async def test_stt_failure_says_fallback_and_goes_on(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.stt_script.extend([Status(500), Status(500)])
    session, events = await session_factory(
        openai_agent(voice=True), audio_output=PacedOutput(realtime=False)
    )
    await push(session, utterance("Hello?"))
    await session.wait_idle(15)
    assert "stt openai" in events.of("error")[0].service
    assert events.of("agent_reply")[-1].text == session.agent.spec.fallback_line
    assert openai_server.tts_requests == [session.agent.spec.fallback_line]
    await push(session, utterance("Hello again?"))
    await session.wait_idle(15)
    assert events.of("agent_reply")[-1].text == "You said: hello"


async def test_tts_failure_keeps_the_text_reply(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.tts_script.extend([Status(500), Status(500)])
    session, events = await session_factory(
        openai_agent(voice=True), audio_output=PacedOutput(realtime=False)
    )
    await session.process_text("hi")
    await session.wait_idle(15)
    assert "tts openai" in events.of("error")[0].service
    assert events.of("agent_reply")[-1].text == "You said: hi"
    await session.process_text("again")
    await session.wait_idle(15)
    assert events.of("agent_audio")  # TTS works again on the next turn


async def test_empty_transcript_is_ignored(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.transcript = "  "
    session, events = await session_factory(openai_agent(voice=True))
    await push(session, utterance("Mm."))
    await session.wait_idle(15)
    assert openai_server.stt_requests == 1
    assert events.of("agent_reply") == [] and openai_server.chat_requests == []


async def test_audio_chunks_of_any_shape(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, events = await session_factory(
        openai_agent(voice=True), audio_output=PacedOutput(realtime=False)
    )
    speech = utterance("What time is it?")
    odd = 2 * 441 + 1  # odd byte counts split samples across chunks
    await push(session, speech, chunk_bytes=odd)
    await session.wait_idle(15)
    padded = join(
        silence_chunk(0.3, 44_100),
        speech_chunk("What time is it?", 44_100),
        silence_chunk(1.0, 44_100),
    )
    stereo = padded.to_array().repeat(2)
    await push(session, AudioChunk(stereo.tobytes(), 44_100, 2))
    await session.process_audio(b"", sample_rate=RATE)
    await session.wait_idle(15)
    assert len(events.of("user_transcript")) == 2
    assert session.metrics()["audio_segments_processed"] == 2


@pytest.mark.parametrize(
    ("rate", "channels", "field"),
    [(7_999, 1, "sample_rate"), (384_000, 1, "sample_rate"), (16_000, 9, "channels")],
)
async def test_bad_audio_formats_are_refused(
    openai_server: ScriptedOpenAI, session_factory: Any, rate: int, channels: int, field: str
) -> None:
    session, _ = await session_factory(openai_agent(voice=True))
    with pytest.raises(ValidationError) as info:
        await session.process_audio(b"\x00\x00" * 100, sample_rate=rate, channels=channels)
    assert info.value.field == field


async def test_an_agent_with_stt_and_no_tts_listens_and_answers_in_text(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.transcript = "what time is it"
    agent = openai_agent(
        stt_config={"provider": "openai", "model": "whisper-1", "max_retries": 1},
        vad_config={"provider": "energy", "threshold_db": -35},
        min_endpointing_delay=0.4,
    )
    session, events = await session_factory(agent)
    assert session.tts is None and type(session.vad).__name__ == "EnergyVAD"  # the VAD it names
    await push(session, utterance("What time is it?"))
    await session.wait_idle(15)
    assert [e.text for e in events.of("user_transcript")] == ["what time is it"]
    assert events.of("agent_reply")[-1].text == "You said: what time is it"
    assert events.of("agent_audio") == [] and openai_server.tts_requests == []


async def test_text_only_agent_refuses_audio(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    session, _ = await session_factory(openai_agent())
    with pytest.raises(ValidationError, match="text-only"):
        await session.process_audio(b"\x00\x00" * 100, sample_rate=16_000)
