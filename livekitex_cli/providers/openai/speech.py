"""Audio transcriptions (STT) and audio speech as raw PCM (TTS) through the ``openai`` client."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator

from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import STT, TTS, Transcript
from livekitex_cli.providers.openai.client import UsesClient, map_error
from livekitex_cli.providers.openai.options import OpenAISTTOptions, OpenAITTSOptions

CHUNK_BYTES = 4_800  # 100 ms of 24 kHz mono int16


def to_wav(audio: AudioChunk) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(audio.channels)
        out.setsampwidth(2)
        out.setframerate(audio.sample_rate)
        out.writeframes(audio.data)
    return buffer.getvalue()


class OpenAISTT(UsesClient, STT):
    provider_name = "openai"

    def __init__(self, options: OpenAISTTOptions) -> None:
        super().__init__(timeout=options.timeout, max_retries=options.max_retries)
        self.options = options
        self._take_client(options)

    def __repr__(self) -> str:
        return f"<OpenAISTT model={self.options.model!r}>"

    async def _transcribe_impl(self, audio: AudioChunk, language: str | None) -> Transcript:
        language = language or self.options.language
        # optional fields only when set: the "not given" marker differs across openai releases
        optional = {"language": language, "prompt": self.options.prompt}
        try:
            result = await self.client.audio.transcriptions.create(  # type: ignore[call-overload]
                model=self.options.model,
                file=("speech.wav", to_wav(audio), "audio/wav"),
                **{key: value for key, value in optional.items() if value},
            )
            text = result.text
        except Exception as exc:  # noqa: BLE001 - every client failure becomes one of ours
            raise map_error(self.service, exc, self.timeout) from exc
        return Transcript(text=text or "", language=language)


class OpenAITTS(UsesClient, TTS):
    provider_name = "openai"

    def __init__(self, options: OpenAITTSOptions) -> None:
        super().__init__(timeout=options.timeout, max_retries=options.max_retries)
        self.options = options
        self.sample_rate = options.sample_rate
        self._take_client(options)

    def __repr__(self) -> str:
        return f"<OpenAITTS model={self.options.model!r} voice={self.options.voice!r}>"

    async def _synthesize_impl(self, text: str) -> AsyncIterator[AudioChunk]:
        carry = b""
        try:
            extra = {"instructions": self.options.instructions} if self.options.instructions else {}
            async with self.client.audio.speech.with_streaming_response.create(
                model=self.options.model,
                voice=self.options.voice,
                input=text,
                response_format="pcm",
                speed=self.options.speed,
                **extra,  # type: ignore[arg-type]
            ) as response:
                async for data in response.iter_bytes(CHUNK_BYTES):
                    data = carry + data
                    usable = len(data) - len(data) % 2
                    carry = data[usable:]
                    if usable:
                        yield AudioChunk(data[:usable], self.sample_rate, 1)
        except Exception as exc:  # noqa: BLE001 - every client failure becomes one of ours
            raise map_error(self.service, exc, self.timeout) from exc
