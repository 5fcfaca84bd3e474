"""Incoming audio: mix to mono, resample for the VAD, and cut the stream into user turns.

A turn starts when speech probability stays above ``activation`` for ``min_speech`` seconds
(``onset`` seconds of it already make ``voicing`` true) and ends after ``endpointing_delay``
seconds below ``deactivation``. Audio from a little before the start (``pre_roll``) is kept so
the first syllable reaches STT.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import soxr

from livekitex_cli.errors import ValidationError
from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import VAD

if TYPE_CHECKING:
    from livekitex_cli.providers.audio import Int16Array

MAX_CHANNELS = 8


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at: float  # seconds of audio received when speech was detected


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    utterance: AudioChunk
    at: float
    speech_end: float  # audio time of the last speech frame
    detection_delay: float  # audio seconds between the last speech frame and the decision


TurnEvent = SpeechStarted | SpeechEnded


class Resampler:
    """Streaming int16 mono resampling with soxr; rebuilt if the input rate changes."""

    def __init__(self, out_rate: int) -> None:
        self.out_rate = out_rate
        self._in_rate = 0
        self._stream: soxr.ResampleStream | None = None

    def push(self, samples: Int16Array, in_rate: int) -> Int16Array:
        if in_rate == self.out_rate:
            return samples
        if self._stream is None or in_rate != self._in_rate:
            self._in_rate = in_rate
            self._stream = soxr.ResampleStream(
                in_rate, self.out_rate, 1, dtype="int16", quality="HQ"
            )
        out: Int16Array = self._stream.resample_chunk(samples)
        return out


def to_mono(data: bytes, channels: int, carry: bytearray) -> Int16Array:
    """int16 mono samples from interleaved PCM; a trailing partial frame waits in ``carry``."""
    frame_bytes = 2 * channels
    carry.extend(data)
    usable = len(carry) - len(carry) % frame_bytes
    samples = np.frombuffer(bytes(carry[:usable]), dtype=np.int16)
    del carry[:usable]
    if channels == 1:
        return samples
    mixed: Int16Array = samples.reshape(-1, channels).astype(np.int32).mean(axis=1).astype(np.int16)
    return mixed


def check_format(sample_rate: int, channels: int) -> None:
    if not 8_000 <= sample_rate <= 192_000:
        raise ValidationError("sample_rate", f"{sample_rate} Hz is outside 8000..192000")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValidationError("channels", f"{channels} is outside 1..{MAX_CHANNELS}")


@dataclass
class TurnDetector:
    """Frames of VAD probability in, ``SpeechStarted`` / ``SpeechEnded`` out."""

    vad: VAD
    endpointing_delay: float = 0.5
    activation: float = 0.5
    deactivation: float = 0.35
    min_speech: float = 0.1
    onset: float = 0.05  # voiced seconds that may be the start of speech (``voicing``)
    pre_roll: float = 0.3
    max_utterance: float = 30.0
    received: float = 0.0
    _buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    _history: deque[Int16Array] = field(default_factory=deque)
    _speech: list[Int16Array] = field(default_factory=list)
    _in_speech: bool = False
    _voiced_run: float = 0.0
    _silence_run: float = 0.0
    _last_speech_at: float = 0.0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def push(self, samples: Int16Array) -> list[TurnEvent]:
        """Feed mono samples at ``vad.sample_rate``; the turn events they complete."""
        events: list[TurnEvent] = []
        size = self.vad.frame_samples
        buffer = np.concatenate([self._buffer, samples]) if self._buffer.size else samples
        offset = 0
        while buffer.size - offset >= size:
            frame = buffer[offset : offset + size]
            offset += size
            event = self._frame(frame)
            if event is not None:
                events.append(event)
        self._buffer = buffer[offset:].copy()
        return events

    @property
    def voicing(self) -> bool:
        """In speech, or ``onset`` seconds voiced on the way to it: what may be the user
        starting to talk, before ``min_speech`` confirms it."""
        return self._in_speech or self._voiced_run >= self.onset

    @property
    def silence(self) -> float:
        """Seconds of silence since the last speech frame of the turn in progress."""
        return self._silence_run if self._in_speech else 0.0

    @property
    def last_speech_at(self) -> float:
        return self._last_speech_at

    def end_now(self) -> SpeechEnded | None:
        """End the turn in progress now (another signal decided that it is over)."""
        return self._end() if self._in_speech else None

    def current_speech(self) -> AudioChunk:
        """The speech of the turn in progress so far (to transcribe it before it ends)."""
        audio = np.concatenate(self._speech) if self._speech else np.zeros(0, dtype=np.int16)
        return AudioChunk(audio.tobytes(), self.vad.sample_rate, 1)

    def flush(self) -> list[TurnEvent]:
        """End a turn in progress (the stream ended)."""
        if not self._in_speech:
            return []
        return [self._end()]

    def _frame(self, frame: Int16Array) -> TurnEvent | None:
        step = frame.size / self.vad.sample_rate
        self.received += step
        probability = self.vad.speech_probability(frame)
        if not self._in_speech:
            self._history.append(frame)
            while len(self._history) * step > self.pre_roll + self.min_speech:
                self._history.popleft()
            self._voiced_run = self._voiced_run + step if probability >= self.activation else 0.0
            if self._voiced_run >= self.min_speech:
                self._in_speech = True
                self._speech = list(self._history)
                self._history.clear()
                self._silence_run = 0.0
                self._last_speech_at = self.received
                return SpeechStarted(at=self.received)
            return None
        self._speech.append(frame)
        if probability >= self.deactivation:
            self._silence_run = 0.0
            self._last_speech_at = self.received
        else:
            self._silence_run += step
        spoken = len(self._speech) * step
        if self._silence_run >= self.endpointing_delay or spoken >= self.max_utterance:
            return self._end()
        return None

    def _end(self) -> SpeechEnded:
        audio = np.concatenate(self._speech) if self._speech else np.zeros(0, dtype=np.int16)
        # keep a little trailing silence: STT models like a clean ending
        keep = int(min(self._silence_run, 0.2) * self.vad.sample_rate)
        trailing = int(self._silence_run * self.vad.sample_rate)
        if trailing > keep:
            audio = audio[: audio.size - (trailing - keep)]
        self._speech = []
        self._in_speech = False
        self._voiced_run = 0.0
        delay = self.received - self._last_speech_at
        self._silence_run = 0.0
        utterance = AudioChunk(audio.tobytes(), self.vad.sample_rate, 1)
        return SpeechEnded(utterance, self.received, self._last_speech_at, delay)
