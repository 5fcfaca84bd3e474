"""Audio as the pipeline passes it around: 16-bit PCM with its rate and channel count."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Interleaved little-endian int16 PCM."""

    data: bytes
    sample_rate: int
    channels: int = 1

    @property
    def samples_per_channel(self) -> int:
        return len(self.data) // (2 * self.channels)

    @property
    def duration(self) -> float:
        return self.samples_per_channel / self.sample_rate

    def to_array(self) -> Int16Array:
        return np.frombuffer(self.data, dtype=np.int16)

    @classmethod
    def from_array(
        cls, samples: npt.NDArray[np.generic], sample_rate: int, channels: int = 1
    ) -> AudioChunk:
        """From int16 samples, or floats in [-1, 1] (clipped)."""
        if samples.dtype != np.int16:
            scaled = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0
            samples = scaled.astype(np.int16)
        return cls(samples.tobytes(), sample_rate, channels)


def silence(seconds: float, sample_rate: int) -> AudioChunk:
    return AudioChunk(bytes(2 * int(seconds * sample_rate)), sample_rate, 1)
