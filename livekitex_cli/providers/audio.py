"""Audio as the pipeline passes it around: 16-bit PCM with its rate and channel count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads on first use: a worker registers without it
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
        import numpy as np

        return np.frombuffer(self.data, dtype=np.int16)

    @classmethod
    def from_array(
        cls, samples: npt.NDArray[np.generic], sample_rate: int, channels: int = 1
    ) -> AudioChunk:
        """From int16 samples, or floats in [-1, 1] (clipped)."""
        import numpy as np

        if samples.dtype != np.int16:
            scaled = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0
            samples = scaled.astype(np.int16)
        return cls(samples.tobytes(), sample_rate, channels)


def silence(seconds: float, sample_rate: int) -> AudioChunk:
    return AudioChunk(bytes(2 * int(seconds * sample_rate)), sample_rate, 1)


def read_wav(path: str) -> AudioChunk:
    """A 16-bit PCM WAV file (any rate, any channel count)."""
    import wave

    from livekitex_cli.errors import ValidationError

    try:
        with wave.open(path, "rb") as wav:
            if wav.getsampwidth() != 2:
                bits = wav.getsampwidth() * 8
                raise ValidationError("audio", f"{path}: {bits}-bit audio; only 16-bit PCM is read")
            data = wav.readframes(wav.getnframes())
            return AudioChunk(data, wav.getframerate(), wav.getnchannels())
    except FileNotFoundError:
        raise ValidationError("audio", f"{path}: file not found") from None
    except (wave.Error, EOFError) as exc:
        raise ValidationError("audio", f"{path}: not a PCM WAV file ({exc})") from None


def write_wav(path: str, chunks: list[AudioChunk], *, sample_rate: int, channels: int = 1) -> float:
    """Write chunks (all at ``sample_rate``) as a 16-bit WAV; the duration written."""
    import wave

    with wave.open(path, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        for chunk in chunks:
            wav.writeframes(chunk.data)
    return sum(c.duration for c in chunks)
