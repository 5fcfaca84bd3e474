"""Real speech for tests, made with espeak-ng in the test run, plus silence and noise."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soxr

from livekitex_cli.providers.audio import AudioChunk, read_wav


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


needs_espeak = pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")


def speech_wav(text: str, path: Path, *, words_per_minute: int = 150) -> Path:
    """Speak ``text`` into a 22,050 Hz mono WAV at ``path``."""
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path


@cache
def _spoken(text: str) -> AudioChunk:
    with tempfile.TemporaryDirectory() as folder:
        return read_wav(str(speech_wav(text, Path(folder) / "speech.wav")))


def speech_chunk(text: str, sample_rate: int = 16_000) -> AudioChunk:
    """``text`` spoken by espeak-ng, as mono int16 at ``sample_rate``."""
    raw = _spoken(text)
    samples = raw.to_array()
    if raw.sample_rate != sample_rate:
        samples = soxr.resample(samples, raw.sample_rate, sample_rate, quality="HQ")
    return AudioChunk(np.asarray(samples, dtype=np.int16).tobytes(), sample_rate, 1)


def silence_chunk(seconds: float, sample_rate: int = 16_000) -> AudioChunk:
    return AudioChunk(bytes(2 * int(seconds * sample_rate)), sample_rate, 1)


def noise_chunk(seconds: float, sample_rate: int = 16_000, *, level: float = 0.05) -> AudioChunk:
    """White noise at ``level`` of full scale (seeded, so tests repeat)."""
    rng = np.random.default_rng(1234)
    samples = rng.normal(0.0, level, int(seconds * sample_rate)).clip(-1, 1)
    return AudioChunk((samples * 32767).astype(np.int16).tobytes(), sample_rate, 1)


def join(*chunks: AudioChunk) -> AudioChunk:
    """Concatenate chunks of the same rate and channel count."""
    return AudioChunk(b"".join(c.data for c in chunks), chunks[0].sample_rate, chunks[0].channels)


def echo_mix(
    far: AudioChunk,
    *,
    delay: float = 0.1,
    gain_db: float = -10.0,
    noise_level: float = 0.001,
    user: AudioChunk | None = None,
    user_at: float = 0.0,
    tail: float = 1.0,
) -> AudioChunk:
    """What the user's microphone picks up while the agent says ``far``: its voice back from
    the speakers ``delay`` s late at ``gain_db``, low noise, and the user's own speech (``user``,
    from ``user_at`` s on), all at ``far``'s rate."""
    rate = far.sample_rate
    voice = far.to_array().astype(np.float64) * 10 ** (gain_db / 20)
    own = user.to_array().astype(np.float64) if user is not None else np.zeros(0)
    start, lag = int(user_at * rate), int(delay * rate)
    size = max(voice.size + lag, start + own.size) + int(tail * rate)
    mic = np.random.default_rng(7).normal(0.0, noise_level * 32767, size)
    mic[lag : lag + voice.size] += voice
    mic[start : start + own.size] += own
    return AudioChunk(mic.clip(-32768, 32767).astype(np.int16).tobytes(), rate, 1)
