"""The offline models, for real: Silero VAD, faster-whisper, piper and llama.cpp from packages."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import soxr

from livekitex_cli import ResourceError, create_agent
from livekitex_cli.providers import AudioChunk
from livekitex_cli.session import AgentSession, PacedOutput
from livekitex_cli.tools import default_registry
from tests.speech import join, needs_espeak, noise_chunk, silence_chunk, speech_chunk

pytest.importorskip("onnxruntime", reason="the local extra is not installed")
pytest.importorskip("faster_whisper", reason="the local extra is not installed")
pytest.importorskip("piper_onnx", reason="the local extra is not installed")
pytest.importorskip("llama_cpp", reason="the local extra is not installed")

from livekitex_cli.providers.local.llama import LlamaLLM  # noqa: E402
from livekitex_cli.providers.local.options import (  # noqa: E402
    LlamaLLMOptions,
    PiperTTSOptions,
    SileroVADOptions,
    WhisperSTTOptions,
)
from livekitex_cli.providers.local.piper import PiperTTS  # noqa: E402
from livekitex_cli.providers.local.silero import SileroVAD  # noqa: E402
from livekitex_cli.providers.local.whisper import WhisperSTT  # noqa: E402

pytestmark = [pytest.mark.local_models, needs_espeak]


def probabilities(vad: SileroVAD, audio: AudioChunk) -> list[float]:
    samples = audio.to_array()
    size = vad.frame_samples
    return [
        vad.speech_probability(samples[i : i + size]) for i in range(0, samples.size - size, size)
    ]


def test_silero_separates_speech_from_silence_and_noise() -> None:
    vad = SileroVAD()
    speech = probabilities(vad, speech_chunk("What is the weather in Paris today?"))
    vad.reset()
    quiet = probabilities(vad, silence_chunk(1.0))
    vad.reset()
    noise = probabilities(vad, noise_chunk(1.0, level=0.05))
    assert max(speech) > 0.9 and sum(p > 0.5 for p in speech) > len(speech) / 3
    assert max(quiet) < 0.2
    assert np.mean(noise) < 0.2 and sum(p > 0.5 for p in noise) <= 1


def test_silero_instances_keep_their_own_state() -> None:
    first, second = SileroVAD(), SileroVAD()
    assert first.session is second.session  # one model per process
    speech = speech_chunk("Hello there, good morning.")
    probabilities(first, speech)
    assert not np.array_equal(first._h, second._h)


async def test_whisper_transcribes_real_speech() -> None:
    stt = WhisperSTT()
    transcript = await stt.transcribe(speech_chunk("What is the weather in Paris?"))
    words = transcript.text.lower()
    assert "weather" in words and "paris" in words


async def test_piper_speaks_and_whisper_understands_it() -> None:
    tts = PiperTTS()
    chunks = [chunk async for chunk in tts.synthesize("Please book a table for two people.")]
    assert tts.sample_rate == 22_050 and all(c.sample_rate == 22_050 for c in chunks)
    assert len(chunks) > 3  # streamed in pieces, not one blob
    seconds = sum(c.duration for c in chunks)
    assert 1.0 < seconds < 5.0
    samples = np.concatenate([c.to_array() for c in chunks])
    at16k = soxr.resample(samples, 22_050, 16_000).astype(np.int16)
    heard = await WhisperSTT().transcribe(AudioChunk(at16k.tobytes(), 16_000))
    assert "table" in heard.text.lower() and "two" in heard.text.lower()


async def test_llama_streams_text_and_calls_a_forced_tool() -> None:
    tool = default_registry().get("get_weather")
    forced = LlamaLLM(LlamaLLMOptions(tool_choice="get_weather", max_tokens=48))
    deltas = [
        d
        async for d in forced.chat(
            messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[tool]
        )
    ]
    calls = [d.tool_call for d in deltas if d.tool_call]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert "city" in json.loads(calls[0].arguments)
    plain = LlamaLLM(LlamaLLMOptions(max_tokens=24))
    text = [d.text async for d in plain.chat(messages=[{"role": "user", "content": "Say hello."}])]
    assert len([t for t in text if t]) > 3  # streamed token by token
    assert "".join(text).strip()


@pytest.mark.parametrize(
    "make",
    [
        lambda: SileroVAD(SileroVADOptions(model_path="/nonexistent/vad.onnx")),
        lambda: WhisperSTT(WhisperSTTOptions(model="/nonexistent/whisper")),
        lambda: PiperTTS(PiperTTSOptions(voice="/nonexistent/voice.onnx")),
        lambda: LlamaLLM(LlamaLLMOptions(model_path="/nonexistent/model.gguf")),
    ],
)
def test_missing_model_is_a_resource_error(make: Any) -> None:
    with pytest.raises(ResourceError, match="not found at /nonexistent"):
        make()


async def test_full_spoken_round_trip_offline() -> None:
    """Speech -> Silero -> whisper -> llama (tool forced) -> tool -> llama -> piper audio."""
    agent = create_agent(
        name="offline",
        instructions="You are a weather assistant. Use get_weather.",
        tools=["get_weather"],
        llm_config={"provider": "local", "tool_choice": "get_weather", "max_tokens": 48},
        stt_config={"provider": "local"},
        tts_config={"provider": "local"},
        vad_config={"provider": "local"},
        max_tool_rounds=1,
    )
    events: list[Any] = []
    session = AgentSession(
        agent=agent, event_callbacks={"*": events.append}, audio_output=PacedOutput(realtime=False)
    )
    await session.start()
    try:
        spoken = join(
            silence_chunk(0.3, 48_000),
            speech_chunk("What is the weather in Paris?", 48_000),
            silence_chunk(1.0, 48_000),
        )
        step = 960 * 2  # 20 ms at 48 kHz
        for start in range(0, len(spoken.data), step):
            await session.process_audio(spoken.data[start : start + step], sample_rate=48_000)
        await session.wait_idle(120)
    finally:
        await session.aclose()
    transcript = next(e.text for e in events if e.type == "user_transcript").lower()
    assert "weather" in transcript and "paris" in transcript
    call = next(e for e in events if e.type == "tool_call_started")
    assert call.name == "get_weather" and "paris" in json.loads(call.arguments)["city"].lower()
    finished = next(e for e in events if e.type == "tool_call_finished")
    assert finished.error is None and json.loads(finished.output)["city"].lower() == "paris"
    audio = [e.frame for e in events if e.type == "agent_audio"]
    assert sum(f.duration for f in audio) > 0.3
    metrics = session.metrics()
    assert metrics["audio_segments_processed"] == 1 and metrics["tool_calls_executed"] == 1


async def test_llama_free_to_choose_never_answers_with_nothing() -> None:
    tools = [default_registry().get("get_weather"), default_registry().get("get_time")]
    llm = LlamaLLM(LlamaLLMOptions(max_tokens=32))
    messages = [
        {"role": "system", "content": "You are Nova."},
        {"role": "assistant", "content": "Hi"},
        {"role": "user", "content": "What time is it in Paris?"},
    ]
    deltas = [d async for d in llm.chat(messages=messages, tools=tools)]
    text = "".join(d.text for d in deltas).strip()
    assert text or any(d.tool_call for d in deltas)
