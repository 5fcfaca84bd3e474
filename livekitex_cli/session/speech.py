"""Agent speech: cut streamed text into sentences, lay them on the audio to tell what was heard,
and play audio out frame by frame."""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from livekitex_cli.providers.audio import AudioChunk

_BOUNDARY = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "vs.", "etc.", "no."}
FRAME_SECONDS = 0.02


@dataclass
class SpokenSentence:
    """One sentence on the reply's audio timeline, in seconds from the reply's first frame."""

    text: str
    start: float
    end: float


@dataclass
class Spoken:
    """The reply's sentences laid out on its audio, to tell what was heard by a given point."""

    sentences: list[SpokenSentence] = field(default_factory=list)

    def text(self, heard: float) -> str:
        """The words played out in the first ``heard`` seconds of the reply's audio; a word
        counts once its share of its sentence's audio has begun."""
        words: list[str] = []
        for sentence in self.sentences:
            if heard >= sentence.end:
                words.append(sentence.text)
                continue
            if heard > sentence.start:
                parts = sentence.text.split()
                share = (heard - sentence.start) / (sentence.end - sentence.start)
                words.extend(parts[: math.ceil(len(parts) * share)])
            break
        return " ".join(words).strip()


class SentenceSplitter:
    """Streamed text in, whole sentences out as soon as each one is complete."""

    def __init__(self, *, min_chars: int = 12) -> None:
        self.min_chars = min_chars
        self._pending = ""

    def push(self, text: str) -> list[str]:
        self._pending += text
        sentences: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(self._pending):
            candidate = self._pending[start : match.start()].strip()
            last_word = candidate.rsplit(" ", 1)[-1].lower() if candidate else ""
            if len(candidate) < self.min_chars or last_word in _ABBREVIATIONS:
                continue
            sentences.append(candidate)
            start = match.end()
        self._pending = self._pending[start:]
        return sentences

    def flush(self) -> list[str]:
        rest, self._pending = self._pending.strip(), ""
        return [rest] if rest else []


def frames(chunk: AudioChunk, *, seconds: float = FRAME_SECONDS) -> list[AudioChunk]:
    """Cut a chunk into frames of ``seconds`` (the last one may be shorter)."""
    step = 2 * chunk.channels * max(1, int(chunk.sample_rate * seconds))
    return [
        AudioChunk(chunk.data[i : i + step], chunk.sample_rate, chunk.channels)
        for i in range(0, len(chunk.data), step)
    ]


class AudioOutput(Protocol):
    """Where agent audio goes. ``capture`` returns once the frame is accepted; accepted audio may
    wait in a queue (``queued`` seconds of it) before it is played out."""

    async def capture(self, frame: AudioChunk) -> None: ...

    def clear(self) -> None:
        """Drop audio accepted but not yet played (an interruption)."""

    @property
    def queued(self) -> float:
        """Seconds of accepted audio not yet played out."""
        ...

    async def wait_for_playout(self) -> None:
        """Return once everything accepted so far is played out (or dropped by ``clear``)."""


class PacedOutput:
    """A virtual speaker: accepts frames no faster than real time (``realtime=False``: instantly).

    Up to ``buffer`` seconds may be queued ahead, like a jitter buffer in a real track.
    """

    def __init__(self, *, realtime: bool = True, buffer: float = 0.1) -> None:
        self.realtime = realtime
        self.buffer = buffer
        self._until = 0.0

    @property
    def queued(self) -> float:
        return max(0.0, self._until - time.monotonic()) if self.realtime else 0.0

    async def capture(self, frame: AudioChunk) -> None:
        if not self.realtime:
            return
        now = time.monotonic()
        self._until = max(self._until, now) + frame.duration
        ahead = self._until - now - self.buffer
        if ahead > 0:
            await asyncio.sleep(ahead)

    def clear(self) -> None:
        self._until = time.monotonic()

    async def wait_for_playout(self) -> None:
        while (left := self.queued) > 0:  # ``clear`` ends the wait after the current nap
            await asyncio.sleep(left)
