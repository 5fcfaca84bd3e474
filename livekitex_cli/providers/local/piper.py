"""Text to speech with piper voices on onnxruntime (``piper-onnx``, MIT), offline."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import TTS
from livekitex_cli.providers.local.models import piper_voice, require, shared
from livekitex_cli.providers.local.options import PiperTTSOptions

CHUNK_SECONDS = 0.2


def _load(model: str, config: str) -> tuple[Any, threading.Lock]:
    piper_onnx = require("piper_onnx", package="piper-onnx")
    # phonemizer warns on its root-propagating logger about its own word alignment ("words
    # count mismatch" on most punctuation): nothing a user can act on, and it printed into the
    # console's conversation. Its errors still show.
    logging.getLogger("phonemizer").setLevel(logging.ERROR)
    return piper_onnx.Piper(model, config), threading.Lock()


class PiperTTS(TTS):
    provider_name = "local-piper"

    def __init__(self, options: PiperTTSOptions | None = None) -> None:
        options = options or PiperTTSOptions()
        super().__init__(timeout=options.timeout, max_retries=0)
        self.options = options
        model, config = piper_voice(options.voice, options.config)
        self.voice, self.config = str(model), str(config)
        import json

        self.sample_rate = int(json.loads(config.read_text())["audio"]["sample_rate"])
        self._model: tuple[Any, threading.Lock] | None = None

    def __repr__(self) -> str:
        return f"<PiperTTS voice={self.voice.rsplit('/', 1)[-1]!r}>"

    async def load(self) -> None:
        """Load the voice now (it loads on first use otherwise). Idempotent."""
        await asyncio.to_thread(self._ensure)

    def _ensure(self) -> tuple[Any, threading.Lock]:
        if self._model is None:
            self._model = shared(("piper", self.voice), lambda: _load(self.voice, self.config))
        return self._model

    def _run(self, text: str) -> np.ndarray:
        model, lock = self._ensure()
        with lock:
            samples, _ = model.create(
                text,
                speaker_id=self.options.speaker,
                length_scale=self.options.length_scale,
                noise_scale=_scale(self.options.noise_scale),
                noise_w=_scale(self.options.noise_w),
            )
        return np.asarray(samples, dtype=np.float32)

    async def _synthesize_impl(self, text: str) -> AsyncIterator[AudioChunk]:
        samples = await asyncio.to_thread(self._run, text)
        audio = AudioChunk.from_array(samples, self.sample_rate)
        step = 2 * int(self.sample_rate * CHUNK_SECONDS)
        for start in range(0, len(audio.data), step):
            yield AudioChunk(audio.data[start : start + step], self.sample_rate, 1)


def _scale(value: float | None) -> float | None:
    """piper-onnx reads 0 as "not given" (the voice's own): no variation is a tiny one."""
    return None if value is None else max(value, 1e-6)
