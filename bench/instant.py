"""Providers that answer at once, so a benchmark measures the framework's own cost."""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator

from livekitex_cli.providers import LLM, STT, TTS, AudioChunk, ChatDelta, ChatMessage, Transcript
from livekitex_cli.tools import FunctionTool


class InstantSTT(STT):
    provider_name = "instant"

    def __init__(self, text: str = "what is the weather like") -> None:
        super().__init__(max_retries=0)
        self.text = text

    async def _transcribe_impl(self, audio: AudioChunk, language: str | None) -> Transcript:
        return Transcript(self.text)


class InstantLLM(LLM):
    provider_name = "instant"

    def __init__(self, reply: str = "It is sunny and warm. Enjoy your day outside!") -> None:
        super().__init__(max_retries=0)
        self.reply = reply

    async def _chat_impl(
        self, messages: list[ChatMessage], tools: list[FunctionTool], tool_choice: str | None
    ) -> AsyncIterator[ChatDelta]:
        for word in self.reply.split(" "):
            yield ChatDelta(text=word + " ")


class InstantTTS(TTS):
    provider_name = "instant"
    sample_rate = 24_000

    def __init__(self, seconds: float = 0.2) -> None:
        super().__init__(max_retries=0)
        self.audio = tone(seconds, self.sample_rate)

    async def _synthesize_impl(self, text: str) -> AsyncIterator[AudioChunk]:
        yield AudioChunk(self.audio, self.sample_rate, 1)


def tone(seconds: float, sample_rate: int, hz: float = 220.0, level: float = 0.3) -> bytes:
    count = int(seconds * sample_rate)
    peak = int(32767 * level)
    return struct.pack(
        f"<{count}h",
        *(int(peak * math.sin(2 * math.pi * hz * i / sample_rate)) for i in range(count)),
    )
