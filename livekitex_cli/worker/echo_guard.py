"""The echo guard: a room session's microphone cleaned by WebRTC's audio processing
(``rtc.AudioProcessingModule``) before the VAD hears it, so the agent's own voice coming back
through the user's speakers and microphone does not interrupt it.

- echo cancellation: the agent's voice, as the room's audio source plays it out, is the far end
  (``process_reverse_stream``); the canceller finds it, and its delay, in the microphone
  (``process_stream``) and takes it out. Each far-end frame is fed when it starts playing out
  (the source queues up to a second ahead), in step with the microphone's 10 ms frames, and
  audio cleared from the queue by an interruption is dropped here too: it never played.
- a gate on what the canceller leaves: WebRTC's canceller follows an echo whose delay holds
  still within about half a second. Through a real server the echo came back 0.2 to 1 s late,
  and its delay wandered (jitter buffers; a reply resumed after a pause): under load it got
  through in 3 to 4 calls of 8. Where an echo has been found (``EchoPath``: its lag and its
  share of the voice), each 10 ms of the canceller's output no louder than that echo could be
  (the loudest of the voice from 80 ms before to 150 ms after where it was found, at that
  share) is held down 30 dB. A user talking over the agent comes through while louder than
  their echo: offline, over a -10 dB echo whose delay wandered, at the agent's own level 12
  barge-ins of 12 were heard, 6 dB under it 6, at the echo's level none. A 6 dB margin the
  other way heard 10 of the 6 dB quieter ones but let the live echo through in 3 calls of 12.
- noise suppression and a high-pass filter: steady noise and rumble.

The far end is fed 10 dB down (``REFERENCE_DB``). At full level, with no echo in the microphone
(headphones, or a front end that cancels echo itself) the canceller's suppressor, never
converged, held the user's own speech down while the agent spoke: a steady far end (the test
TTS tone) hid a barge-in entirely, speech delayed its detection by about 0.1 s. At -10 dB both
are gone; echoes from 0 to -20 dB were still taken out in single cases, and 1 of the bench's
18 echo cases leaked (0 at full level; BENCHMARKS.md). Fed at -20 dB, an echo at 0 dB was not.

Whether the call has an echo at all is found out, not assumed (``EchoPath``): with none in the
microphone (headphones, or a front end that cancels echo itself, as browsers and phones do),
the canceller, fed a far end it never finds, still held the user's speech down by about 17 dB
for the first ~5 s of the agent's voice in a call, and a barge-in then went unheard. So the
canceller works only while an echo is present or not yet ruled out: once the microphone has
stayed quiet through a second of the agent's voice, the microphone bypasses it (noise
suppression and the high-pass filter go on), and it comes back if the microphone starts to
echo the voice. Bypassed, not merely left unfed: unfed, it went on holding the user's speech
down by about 12 dB through the voice and for seconds after it, and whisper heard other words
or none ("We'll be ready to land." for "What is the weather in Paris?"). Before the call is
judged (its first second of voice) a user talking over the agent still goes through the
canceller, and may be misheard.

The module works on 10 ms frames of 16-bit mono PCM: the microphone at the VAD's 16 kHz (the room
I/O reads it so from the track), the far end at the agent's 48 kHz.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from livekit import rtc

from livekitex_cli.log import get_logger
from livekitex_cli.providers import AudioChunk
from livekitex_cli.worker.echo_path import EchoPath, level

log = get_logger("worker")
FRAME = 0.01  # seconds: the only frame length the module takes
REFERENCE_DB = -10.0  # the far end's level as fed to the canceller (see above)
CREEP = 0.0001  # seconds a frame the microphone's timeline may move later (see ``_time_near``)
GATE = 1.0  # the canceller's output above the loudest echo it may carry passes whole...
RESIDUE = 10 ** (-30.0 / 20)  # ...and the rest is held down to this
TAIL = 1.0  # seconds after the agent's voice ends during which its echo may still come back
BATCH = 10  # microphone frames to the module in one call while the echo is not active


class EchoGuard:
    """Far end in (``played``, ``clear``), microphone in and out (``process``)."""

    def __init__(
        self,
        *,
        sample_rate: int = 48_000,
        far_rate: int | None = None,
        echo_cancellation: bool = True,
        noise_suppression: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sample_rate = sample_rate  # the microphone's
        self.far_rate = far_rate or sample_rate  # the agent's voice (the module takes both)
        self.echo_cancellation = echo_cancellation
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=echo_cancellation,
            noise_suppression=noise_suppression,
            high_pass_filter=noise_suppression,
        )
        # with no echo path, the microphone bypasses the canceller (see ``_process_frames``)
        self._plain = (
            rtc.AudioProcessingModule(
                echo_cancellation=False,
                noise_suppression=noise_suppression,
                high_pass_filter=noise_suppression,
            )
            if echo_cancellation
            else self._apm
        )
        self._spans: list[list[float]] = []  # [start, end] of the agent's voice, by clock
        self._clock = clock
        self._frame_bytes = 2 * int(sample_rate * FRAME)
        self._far_bytes = 2 * int(self.far_rate * FRAME)
        self._far = bytearray()  # the agent's voice from ``_far_at`` on, not yet fed
        self._far_at = 0.0  # when the first byte of ``_far`` plays out
        self._near = bytearray()  # microphone bytes short of a whole frame
        self._near_at = 0.0  # the microphone's timeline: its last frame's time...
        self._near_count = 0  # ...counted in frames since the call began...
        self._near_origin: float | None = None  # ...from when its first frame was captured
        self._failed = False
        self.path = EchoPath()  # whether the call has an echo to take out at all

    def __repr__(self) -> str:
        return f"<EchoGuard {self.sample_rate} Hz echo_cancellation={self.echo_cancellation}>"

    # the far end: what the agent plays out ---------------------------------------------------

    def played(self, frame: AudioChunk, at: float) -> None:
        """``frame`` (mono, at ``far_rate``) starts playing out at ``at`` (the clock's
        time); a gap since the last frame played out silence."""
        if not self.echo_cancellation:
            return
        if not self._far:
            self._far_at = at
        else:
            gap = at - self._far_end()
            if gap > FRAME / 2:
                self._far.extend(bytes(2 * int(gap * self.far_rate)))
        scaled = frame.to_array().astype(np.float32) * 10 ** (REFERENCE_DB / 20)
        self._far.extend(scaled.astype(np.int16).tobytes())
        end = at + frame.duration
        if self._spans and at <= self._spans[-1][1] + FRAME:
            self._spans[-1][1] = max(self._spans[-1][1], end)
        else:
            self._spans.append([at, end])

    def clear(self) -> None:
        """The audio not yet played out was dropped (an interruption)."""
        now = self._clock()
        keep = min(len(self._far), 2 * int(max(0.0, now - self._far_at) * self.far_rate))
        del self._far[keep:]
        self._spans = [[start, min(end, now)] for start, end in self._spans if start < now]

    def _far_end(self) -> float:
        return self._far_at + len(self._far) / (2 * self.far_rate)

    def _feed_far(self, near: bytes) -> None:
        """The far-end frames that have started playing out by the microphone frame's time;
        silence if none is due and nothing is queued (the canceller wants a steady far-end
        stream). Microphone frames that arrive in a burst (a busy loop, network jitter) are
        timed by ``_time_near``, so each takes its own share of the far end. With no echo path
        (``EchoPath``), the canceller is not fed: the levels are all it is judged on."""
        size = self._far_bytes
        due: list[bytes] = []
        while self._far and self._far_at <= self._near_at:
            due.append(bytes(self._far[:size]).ljust(size, b"\0"))
            del self._far[:size]
            self._far_at += FRAME
        far = max((level(piece) for piece in due), default=0.0) / 10 ** (REFERENCE_DB / 20)
        self.path.hear(level(near), far)
        if self.path.present is False:
            return
        for piece in due or ([] if self._far else [bytes(size)]):
            self._apm.process_reverse_stream(self._frame(piece, self.far_rate))

    def _time_near(self) -> None:
        """When the microphone frame now processed was captured. Frames come at the pace of
        the call, but are processed when the loop gets to them: after a stall they come in a
        burst, all late. So a frame's time is counted from the call's first frame, 10 ms a
        frame, from the earliest capture the frames' arrivals allow (the last frame of a burst
        is the timely one). Timed by the clock instead (reset when 0.2 s off), a loop stalled
        0.25 s once a second moved the echo 0.2 s against the far end each time, the canceller
        lost it, and it leaked (tests/worker/test_echo_guard.py). The origin may move later by
        ``CREEP`` a frame, should the call ever lose frames."""
        now = self._clock()
        self._near_count += 1
        origin = now - self._near_count * FRAME
        if self._near_origin is not None:
            origin = min(self._near_origin + CREEP, origin)
        self._near_origin = origin
        self._near_at = origin + self._near_count * FRAME

    # the near end: the microphone ---------------------------------------------------------------

    def process(self, pcm: bytes) -> bytes:
        """The microphone's 16-bit mono PCM cleaned, in whole 10 ms frames (a partial frame
        waits for the next call). If the module fails, the audio passes through unchanged.

        While the agent's voice may be in the microphone, one frame at a time, each after its
        share of the far end. Otherwise the frames of the call (a room's 20 ms, up to
        ``BATCH``) go to the module at once: it takes any whole number of 10 ms frames and
        works through them one by one, and a call into livekit's native library costs more
        than the module's own work on a frame (0.142 against 0.104 % of a core a call alone,
        more under load)."""
        self._near.extend(pcm)
        usable = len(self._near) - len(self._near) % self._frame_bytes
        out = bytearray()
        active = self.echo_active  # once a call: it drops the spans that have passed
        step = self._frame_bytes if active else BATCH * self._frame_bytes
        for start in range(0, usable, step):
            piece = bytes(self._near[start : min(start + step, usable)])
            out.extend(self._process_frames(piece, active))
        del self._near[:usable]
        return bytes(out)

    @property
    def echo_active(self) -> bool:
        """Whether the agent's voice may be in the microphone: it is playing out, or stopped
        less than ``TAIL`` ago. Only then is the far end fed (a call to the module per 10 ms
        frame, as costly as the microphone's own). The microphone always goes through the
        module: the canceller needs it without a break to keep the echo path it learnt (with
        4 s of the microphone skipped between two replies, the second one's echo leaked)."""
        if not self.echo_cancellation:
            return False
        now = self._clock()
        while self._spans and self._spans[0][1] + TAIL <= now:
            self._spans.pop(0)
        return bool(self._spans) and self._spans[0][0] - FRAME <= now

    def _skip_far(self) -> None:
        """Drop the far end that has played out meanwhile (nothing of it is fed: silence)."""
        late = self._clock() - self._far_at
        if self._far and late > 0:
            count = min(len(self._far) // self._far_bytes + 1, int(late / FRAME))
            del self._far[: count * self._far_bytes]
            self._far_at += count * FRAME

    def _process_frames(self, piece: bytes, active: bool) -> bytes:
        """One frame while the echo is ``active``, else one or several (``process``)."""
        if self._failed:
            return piece
        try:
            for _ in range(len(piece) // self._frame_bytes):
                self._time_near()
            if active:
                self._feed_far(piece)
            elif self.echo_cancellation:
                self._skip_far()
                self.path.restart()
            frame = self._frame(piece)
            # no echo path: not through the canceller at all. Merely not fed, it went on
            # holding the user's speech down by about 12 dB, through the agent's voice and for
            # seconds after it (whisper heard nothing, or other words)
            apm = self._plain if self.path.present is False else self._apm
            apm.process_stream(frame)
            return self._gate(bytes(frame.data)) if active else bytes(frame.data)
        except RuntimeError as exc:
            self._failed = True
            log.warning(
                "audio processing failed, the microphone goes on raw", extra={"error": str(exc)}
            )
            return piece

    def _gate(self, cleaned: bytes) -> bytes:
        """The canceller's output, held down where it is no louder than ``GATE`` times the
        loudest echo the microphone may carry now (``EchoPath.expected``): what is left of the
        echo when the canceller lost track of it (a call whose delay wanders), not the user,
        whose words come through while louder."""
        expected = self.path.expected()
        if expected == 0.0 or level(cleaned) > expected * GATE:
            return cleaned
        quiet = np.frombuffer(cleaned, np.int16).astype(np.float32) * RESIDUE
        return quiet.astype(np.int16).tobytes()

    def _frame(self, piece: bytes, rate: int | None = None) -> rtc.AudioFrame:
        return rtc.AudioFrame(bytearray(piece), rate or self.sample_rate, 1, len(piece) // 2)
