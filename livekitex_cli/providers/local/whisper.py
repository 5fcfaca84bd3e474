"""Speech to text with faster-whisper (CTranslate2), offline; tiny.en ships in a package."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np

from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import STT, Transcript
from livekitex_cli.providers.local import whisper_window
from livekitex_cli.providers.local.models import require, shared, whisper_model
from livekitex_cli.providers.local.options import WhisperSTTOptions


def _load(model: str, compute_type: str, threads: int) -> tuple[Any, threading.Lock]:
    faster_whisper = require("faster_whisper", package="faster-whisper")
    loaded = faster_whisper.WhisperModel(
        model, device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True
    )
    return loaded, threading.Lock()


class WhisperSTT(STT):
    provider_name = "local-whisper"
    sample_rate = 16_000

    def __init__(self, options: WhisperSTTOptions | None = None) -> None:
        options = options or WhisperSTTOptions()
        super().__init__(timeout=options.timeout, max_retries=0)
        self.options = options
        self.model_name = whisper_model(options.model)
        self._model: tuple[Any, threading.Lock] | None = None

    def __repr__(self) -> str:
        return f"<WhisperSTT model={self.model_name!r}>"

    async def load(self) -> None:
        """Load the model now (it loads on first use otherwise). Idempotent."""
        await asyncio.to_thread(self._ensure)

    def _ensure(self) -> tuple[Any, threading.Lock]:
        if self._model is None:
            key = ("whisper", self.model_name, self.options.compute_type)
            threads = self.options.cpu_threads
            self._model = shared(
                key, lambda: _load(self.model_name, self.options.compute_type, threads)
            )
        return self._model

    async def _transcribe_impl(self, audio: AudioChunk, language: str | None) -> Transcript:
        samples = audio.to_array().astype(np.float32) / 32768.0
        return await asyncio.to_thread(self._run, samples, language or self.options.language)

    def _run(self, samples: np.ndarray, language: str | None) -> Transcript:
        model, lock = self._ensure()
        with lock:
            if self.options.fit_window and whisper_window.fits(samples):
                text = whisper_window.decode(model, samples, language, self.options.beam_size)
                if text is not None:
                    return Transcript(text=text, language=language)
            segments, info = model.transcribe(
                samples,
                language=language,
                beam_size=self.options.beam_size,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            text = "".join(segment.text for segment in segments).strip()
        return Transcript(text=text, language=getattr(info, "language", language))
