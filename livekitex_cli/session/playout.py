"""Holding the agent's voice while the user's overlapping speech is judged.

An interruption that must be earned (``min_duration`` of speech, ``min_words`` recognised
words, no backchannels) takes from a few hundred milliseconds to seconds to decide, and until
then the agent would talk over the user. ``PausableOutput`` wraps any ``AudioOutput``: at the
first sign of user speech the session ``pause``s it, which takes back the audio not yet played
out (the agent is silent within a frame), and holds it and everything the reply goes on
producing. The decision then either ``clear``s it (an interruption: nothing held is ever
played) or ``resume``s it (a backchannel, a cough: the reply goes on from the very sample
where it stopped).

The wrapped output may not hand queued audio back (``livekit.rtc.AudioSource`` cannot), so
the audio it accepted and may not have played yet is kept here too: the newest ``queued``
seconds of it are what ``pause`` takes back.
"""

from __future__ import annotations

import asyncio
import collections

from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.session.speech import AudioOutput


def _tail(chunk: AudioChunk, seconds: float) -> AudioChunk:
    """The last ``seconds`` of ``chunk`` (whole samples)."""
    width = 2 * chunk.channels
    keep = min(len(chunk.data) // width, round(seconds * chunk.sample_rate)) * width
    return AudioChunk(chunk.data[len(chunk.data) - keep :], chunk.sample_rate, chunk.channels)


class PausableOutput:
    """An ``AudioOutput`` that can stop sounding at once and go on later without a gap."""

    def __init__(self, inner: AudioOutput) -> None:
        self.inner = inner
        self.paused = False
        self._recent: collections.deque[AudioChunk] = collections.deque()
        self._recent_seconds = 0.0
        self._held: list[AudioChunk] = []
        self._open = asyncio.Event()  # set unless paused
        self._open.set()
        self._feeding: asyncio.Task[None] | None = None
        self._in_flight: AudioChunk | None = None  # the held frame a resume is feeding
        self._lock = asyncio.Lock()  # one capture at a time, held audio first

    # AudioOutput ---------------------------------------------------------------------------

    async def capture(self, frame: AudioChunk) -> None:
        await self._open.wait()  # a paused reply waits here: its audio is held, not made
        async with self._lock:
            if self.paused:  # paused while this frame waited for the lock
                self._held.append(frame)
                return
            await self.inner.capture(frame)
            self._remember(frame)

    def clear(self) -> None:
        self._held.clear()
        self._in_flight = None
        self._forget()
        if self._feeding is not None:
            self._feeding.cancel()
        self.inner.clear()
        self.paused = False
        self._open.set()

    @property
    def queued(self) -> float:
        return self.inner.queued + sum(chunk.duration for chunk in self._held)

    async def wait_for_playout(self) -> None:
        while True:
            await self._open.wait()
            feeding = self._feeding
            if feeding is not None and not feeding.done():
                await asyncio.wait([feeding])
                continue
            await self.inner.wait_for_playout()
            if not self.paused and not self._held:
                return  # else paused meanwhile: what was taken back still has to play

    # pausing -------------------------------------------------------------------------------

    def pause(self) -> float:
        """Stop sounding now; hold what was not played yet. The seconds taken back."""
        if self.paused:
            return 0.0
        self.paused = True
        self._open.clear()
        if self._feeding is not None:  # a resume still feeding: its frames are held again
            self._feeding.cancel()
        unplayed = self.inner.queued
        taken: list[AudioChunk] = []
        left = unplayed
        for chunk in reversed(self._recent):
            if left <= 0:
                break
            piece = chunk if chunk.duration <= left else _tail(chunk, left)
            taken.append(piece)
            left -= piece.duration
        taken.reverse()
        if self._in_flight is not None:  # a resume was feeding it: after what was played
            taken.append(self._in_flight)
            self._in_flight = None
        self._held[:0] = taken
        self._forget()
        self.inner.clear()
        return unplayed - max(0.0, left)

    def resume(self) -> None:
        """Play what was held, from where it stopped, then go on as before."""
        if not self.paused:
            return
        self.paused = False
        self._feeding = asyncio.ensure_future(self._feed())

    async def _feed(self) -> None:
        async with self._lock:
            while self._held and not self.paused:
                self._in_flight = frame = self._held.pop(0)
                await self.inner.capture(frame)  # cancelled by a new pause: it holds it again
                self._in_flight = None
                self._remember(frame)
            if not self.paused:
                self._open.set()

    # what the wrapped output may still hold ----------------------------------------------

    def _remember(self, frame: AudioChunk) -> None:
        self._recent.append(frame)
        self._recent_seconds += frame.duration
        keep = self.inner.queued + 0.05
        while self._recent and self._recent_seconds - self._recent[0].duration > keep:
            self._recent_seconds -= self._recent.popleft().duration

    def _forget(self) -> None:
        self._recent.clear()
        self._recent_seconds = 0.0
