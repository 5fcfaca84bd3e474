"""How user turns reach the agent: typed (``TextDriver``) or spoken (``AudioDriver``).

Spoken turns are synthesised (piper from the local extra, or the agent's own TTS) and pushed
through the agent's real VAD and STT with ``process_audio``: the speech at once, then silence
in real time until the agent's turn detector ends the turn, as a microphone would. The input
counts as sent when the speech ends, so ``within_ms`` spans endpointing, STT, LLM and TTS up to
the first agent audio. The agent's replies are transcribed back (faster-whisper) for the checks.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import numpy as np
import soxr

from livekitex_cli.providers import STT, TTS, AudioChunk, ProviderRegistry, default_providers
from livekitex_cli.scenarios.load import Plan
from livekitex_cli.scenarios.schema import Turn
from livekitex_cli.session import AgentSession
from livekitex_cli.session.events import AgentAudio, StateChanged
from livekitex_cli.session.run_result import Recording, RunResult

FRAME = 0.02  # seconds of silence per push, as a microphone sends them
MAX_SILENCE = 5.0  # seconds of silence after which the stream is ended instead
LISTEN_RATE = 16_000


class Driver(Protocol):
    async def send(self, session: AgentSession, recording: Recording, turn: Turn) -> None: ...

    async def hear(self, session: AgentSession, result: RunResult) -> None: ...


class TextDriver:
    """Typed turns. A turn sent during the agent's reply (``send_after``) interrupts it first,
    as the user's voice would, when the agent allows interruptions: typed text alone does not."""

    async def send(self, session: AgentSession, recording: Recording, turn: Turn) -> None:
        assert turn.text is not None
        if turn.send_after is not None and session.agent.spec.allow_interruptions:
            session.interrupt()
        recording.mark_input()
        await session.process_text(turn.text)

    async def hear(self, session: AgentSession, result: RunResult) -> None:
        return None


class AudioDriver:
    def __init__(self, voice: TTS, listener: STT) -> None:
        self.voice = voice
        self.listener = listener

    async def speak(self, text: str) -> AudioChunk:
        chunks = [chunk async for chunk in self.voice.synthesize(text)]
        rate = chunks[0].sample_rate if chunks else self.voice.sample_rate
        lead = bytes(2 * int(0.2 * rate))  # a breath of silence before the words
        return AudioChunk(lead + b"".join(c.data for c in chunks), rate, 1)

    async def send(self, session: AgentSession, recording: Recording, turn: Turn) -> None:
        assert turn.text is not None
        speech = await self.speak(turn.text)
        await session.process_audio(speech.data, sample_rate=speech.sample_rate)
        recording.mark_input()
        frame = bytes(2 * int(FRAME * LISTEN_RATE))
        started = time.perf_counter()
        while not _turn_taken(recording):
            if time.perf_counter() - started > MAX_SILENCE:
                await session.end_audio()
                return
            await session.process_audio(frame, sample_rate=LISTEN_RATE)
            await asyncio.sleep(FRAME)

    async def hear(self, session: AgentSession, result: RunResult) -> None:
        """Transcribe each reply's audio into ``heard``: what a caller would have understood."""
        for reply in result.replies:
            frames = [
                event.frame
                for _, event in result.timeline
                if isinstance(event, AgentAudio) and event.turn_id == reply.turn_id
            ]
            if frames:
                reply.heard = await self.transcribe(frames, session.output_sample_rate)
            else:
                reply.heard = ""

    async def transcribe(self, frames: list[AudioChunk], sample_rate: int) -> str:
        samples = np.frombuffer(b"".join(f.data for f in frames), dtype=np.int16)
        if sample_rate != LISTEN_RATE:
            samples = soxr.resample(samples, sample_rate, LISTEN_RATE).astype(np.int16)
        pad = bytes(2 * int(0.3 * LISTEN_RATE))  # whisper clips words that start the audio
        audio = AudioChunk(pad + samples.tobytes() + pad, LISTEN_RATE, 1)
        return (await self.listener.transcribe(audio)).text.strip()


def _turn_taken(recording: Recording) -> bool:
    """Whether the agent started answering after the input was sent."""
    return any(
        at >= recording.result.input_ms
        and isinstance(event, StateChanged)
        and event.new == "thinking"
        for at, event in recording.result.timeline
    )


STEADY_VOICE = {"noise_scale": 0.0, "noise_w": 0.0}  # piper without its random variation


class AudioKit:
    """The local voice and listener, loaded once for every audio scenario of a run."""

    def __init__(self, providers: ProviderRegistry | None = None) -> None:
        self.providers = providers or default_providers()
        self._voice: TTS | None = None
        self._listener: STT | None = None
        self._own: list[TTS] = []
        self._lock = asyncio.Lock()

    async def driver(self, plan: Plan) -> AudioDriver:
        async with self._lock:
            if self._listener is None:
                options = self.providers.options("stt", "local", {})
                self._listener = self.providers.create("stt", "local", options)
            tts, agent = plan.agent.spec.tts, plan.agent
            if plan.user.voice == "agent" and tts is not None:
                voice: TTS = agent.providers.create(
                    "tts", tts.provider, agent.provider_options["tts"]
                )
                self._own.append(voice)
            else:
                if self._voice is None:  # the same delivery every run: outcomes repeat
                    options = self.providers.options("tts", "local", STEADY_VOICE)
                    self._voice = self.providers.create("tts", "local", options)
                voice = self._voice
            assert self._listener is not None
            return AudioDriver(voice, self._listener)

    async def aclose(self) -> None:
        for provider in (self._voice, self._listener, *self._own):
            if provider is not None:
                await provider.aclose()
        self._voice = self._listener = None
        self._own.clear()
