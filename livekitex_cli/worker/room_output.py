"""What the agent puts into a room besides text streams: its voice (``RoomAudioOutput``), the
names front ends read (topics and attributes, as LiveKit's own agents use them), and a quieter
``livekit`` logger."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from livekit import rtc

from livekitex_cli.providers import AudioChunk
from livekitex_cli.session.playout import PausableOutput
from livekitex_cli.worker.echo_guard import EchoGuard as EchoGuard  # room_io names it

if TYPE_CHECKING:
    from livekitex_cli.session import AgentSession

TOPIC_CHAT = "lk.chat"
TOPIC_TRANSCRIPTION = "lk.transcription"
ATTR_STATE = "lk.agent.state"
ATTR_ACTIVE = "lk.agent.active"  # the agent answering, after handoffs
ATTR_FINAL = "lk.transcription_final"
ATTR_SEGMENT = "lk.segment_id"
ATTR_TRACK = "lk.transcribed_track_id"
OUTPUT_RATE = 48_000
INPUT_RATE = 16_000  # the microphone, as the VAD and the STT take it (resampled natively)
INPUT_FRAME_MS = 20  # per frame from the track: half the per-frame work of 10 ms ones
FFI_DOUBLE_DROP = "Attempted to drop unknown FFI handle"
TEARDOWN = ("' closed unexpectedly", "pass-through signal: no confirmed transport")


class RoomAudioOutput:
    """Agent audio into a published track. The source accepts up to a second of audio ahead
    of playout: ``queued`` and ``wait_for_playout`` say where playout really is. An echo
    guard hears each frame as the far end, from when it starts playing out."""

    def __init__(self, source: rtc.AudioSource, guard: EchoGuard | None = None) -> None:
        self.source = source
        self.guard = guard
        self._clears = 0

    async def capture(self, frame: AudioChunk) -> None:
        clears, at = self._clears, time.monotonic() + self.source.queued_duration
        await self.source.capture_frame(
            rtc.AudioFrame(frame.data, frame.sample_rate, frame.channels, frame.samples_per_channel)
        )
        if self.guard is not None:
            # cleared while it waited for room in the queue: it went into the emptied queue,
            # and plays now (told as queued behind a second of audio, the echo guard placed the
            # reply resumed after a pause a second late, and its echo leaked)
            self.guard.played(frame, at if clears == self._clears else time.monotonic())

    def clear(self) -> None:
        self._clears += 1
        self.source.clear_queue()
        if self.guard is not None:
            self.guard.clear()

    @property
    def queued(self) -> float:
        return self.source.queued_duration

    async def wait_for_playout(self) -> None:
        await self.source.wait_for_playout()


def voice_output(session: AgentSession) -> tuple[rtc.AudioSource | None, EchoGuard | None]:
    """The agent's voice (``None`` without TTS), made the session's audio output, and the echo
    guard for its microphone (``None`` if the agent does not listen, or ``turn:`` turns
    ``echo_cancellation`` and ``noise_suppression`` off)."""
    turn, voiced = session.activity.turn, session.tts is not None
    echo = turn.echo_cancellation and voiced
    guard = None
    if session.vad is not None and (echo or turn.noise_suppression):
        guard = EchoGuard(
            sample_rate=INPUT_RATE,
            far_rate=OUTPUT_RATE,
            echo_cancellation=echo,
            noise_suppression=turn.noise_suppression,
        )
    if not voiced:
        return None, guard
    source = rtc.AudioSource(OUTPUT_RATE, 1)
    session.audio_output = PausableOutput(RoomAudioOutput(source, guard))
    session.output_sample_rate = OUTPUT_RATE
    return source, guard


def segment_id(turn_id: str, speaker: str) -> str:
    """The ``lk.segment_id`` of one speaker's words in one turn (front ends key on it, so the
    user's question and the agent's answer must not share one)."""
    return f"SG_{turn_id.removeprefix('turn_')}_{speaker}"


class _LibraryNoise(logging.Filter):
    """Two kinds of record of livekit's native layer that alarm at every ordinary end of a call:

    - livekit 1.2 forgets a remote track's handle when the track is unsubscribed (its
      participant left), and the Python track object drops the same handle again when it is
      garbage-collected: one "Attempted to drop unknown FFI handle" warning per track, with
      nothing of ours holding the track (a bare ``rtc.Room`` shows it too). Dropped.
    - a room the server closes under the agent (its last user gone, ``DeleteRoom``) tears down
      the agent's connection from the far side: three ERRORs ("publisher data channel
      '_reliable' closed unexpectedly", ``_lossy``, ``_data_track``) and a WARNING ("dropping
      pass-through signal: no confirmed transport"), printed at every browser hang-up in
      ``lkx dev``. Shown at debug only: lkx logs the job's end and why itself, and a dropped
      connection mid-call has lkx's own reconnect and recall lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if FFI_DOUBLE_DROP in text:
            return False
        if any(marker in text for marker in TEARDOWN):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def quiet_library_noise() -> None:
    """Install that filter on the ``livekit`` logger (idempotent); its other records still show."""
    library = logging.getLogger("livekit")
    if not any(isinstance(f, _LibraryNoise) for f in library.filters):
        library.addFilter(_LibraryNoise())
