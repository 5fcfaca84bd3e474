"""Barge-in to silence: how long the agent talks over a user who interrupts it, per preset, with
``interruption.pause_on_speech`` on (the presets' default) and off.

Each barge-in of ``bench.turn_taking`` (espeak-ng at two speeds and the piper voice) follows
0.3 s of silence. The speech onset is the first sample above 5% of the utterance's peak. The
benchmark replays the session's interruption rules (``session/turn_taking.py``) on the audio,
frame by frame, with the Silero VAD and faster-whisper tiny.en of the local extra:

- pause on: the agent is silent when the VAD reports speech (``pause`` takes back the queued
  audio at once); a backchannel holds it until the speech is judged, then it goes on;
- pause off: the agent is silent when the rule is met: ``min_duration`` seconds of speech,
  then (when words are needed) a transcription of the speech so far that holds enough words,
  rechecked every 0.5 s of speech, and a last one at the end of the utterance.

The time to silence is audio time from the onset to the decision plus the wall time of the
transcriptions the decision waited for (measured here) and of the VAD on the frame that
decided. Network and the client's jitter buffer come on top in a real room.

Run: ``python -m bench barge_in [--json FILE]`` (needs espeak-ng and the local extra).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from bench.common import report
from bench.turn_taking import BACKCHANNELS, BARGE_INS, RATE, SETTINGS, frames_of, silence
from bench.voices import VOICES, speak
from livekitex_cli.config.turn import TurnSettings
from livekitex_cli.providers.base import STT, VAD
from livekitex_cli.session.audio_input import SpeechEnded, SpeechStarted, TurnDetector
from livekitex_cli.session.turn_taking import QUIET, RECHECK, words_that_count

LEAD = 0.3  # seconds of silence before each utterance


def onset(audio: np.ndarray) -> float:
    """Audio seconds to the first sample above 5% of the peak."""
    level = np.abs(audio.astype(np.int32))
    return float(np.argmax(level > 0.05 * level.max())) / RATE


async def replay(
    vad: VAD, stt: STT, turn: TurnSettings, audio: np.ndarray, *, pause: bool, onset: float
) -> tuple[float | None, float | None]:
    """(seconds from the onset to silence, None if the agent talks on; seconds a paused agent
    is held before it goes on, None if it stopped or was never held)."""
    vad.reset()
    rules = turn.interruption
    judged = rules.min_duration > 0 or rules.needs_words  # else speech stops the agent at once
    detector = TurnDetector(vad, endpointing_delay=turn.endpointing_delay)
    started: float | None = None
    paused_at: float | None = None  # a paused agent is silent from the first voiced frames
    next_check, busy_until = rules.min_duration, 0.0

    async def enough(speech: Any) -> tuple[bool, float]:
        begun = time.perf_counter()
        said = (await stt.transcribe(speech)).text
        counted = words_that_count(said, rules.backchannels)
        return len(counted) >= max(1, rules.min_words), time.perf_counter() - begun

    def decided(stop: bool, at: float) -> tuple[float | None, float | None]:
        if stop:  # silent since the pause, or from now
            return (at if paused_at is None else paused_at) - onset, None
        return None, hold if hold is not None else (None if paused_at is None else at - paused_at)

    hold: float | None = None  # the first time a held agent went on
    quiet_at = -1.0
    for frame in frames_of(audio, vad.frame_samples):
        begun = time.perf_counter()
        events = detector.push(frame)
        now = detector.received + time.perf_counter() - begun  # audio time, plus the VAD's
        if pause and judged and started is None:
            if detector.voicing and paused_at is None:
                paused_at = now
            elif not detector.voicing:
                paused_at = None  # faded before it was speech: the agent went on
        for event in events:
            if isinstance(event, SpeechStarted) and started is None:
                started = event.at
                if not judged:
                    return decided(True, now)
            elif isinstance(event, SpeechEnded) and started is not None:
                stop, took = await enough(event.utterance)  # the last look: words decide
                return decided(stop, now + took)
        if started is None or not detector.in_speech or now < busy_until:
            continue
        if pause and paused_at is None and detector.silence == 0.0:
            paused_at = now  # speaking again after the agent went on: held again
        quiet = paused_at is not None and detector.silence >= QUIET
        quiet = quiet and quiet_at != detector.last_speech_at
        if detector.received - started < next_check and not quiet:
            continue
        if quiet:
            quiet_at = detector.last_speech_at
        if not rules.needs_words:
            if detector.received - started < next_check:  # too short: the agent goes on
                hold, paused_at = (hold if hold is not None else now - paused_at), None
                continue
            return decided(True, now)
        stop, took = await enough(detector.current_speech())
        if stop:
            return decided(True, now + took)
        if quiet and paused_at is not None:  # a backchannel so far: the agent goes on
            hold, paused_at = (hold if hold is not None else now + took - paused_at), None
        next_check = max(next_check, detector.received - started + RECHECK)
        busy_until = now + took
    return None, None


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(values) * 1000:.0f} / {p95 * 1000:.0f} ms"


async def run() -> dict[str, Any]:
    from livekitex_cli.providers.local.silero import SileroVAD
    from livekitex_cli.providers.local.whisper import WhisperSTT

    vad, stt = SileroVAD(), WhisperSTT()
    corpus: list[tuple[str, bool, np.ndarray, float]] = []  # name, barge-in, audio, onset
    for text in (*BARGE_INS, *BACKCHANNELS):
        for voice in VOICES:
            speech = await speak(text, voice, RATE)
            audio = np.concatenate([silence(LEAD), speech, silence(1.5)])
            corpus.append((f"{text}@{voice}", text in BARGE_INS, audio, LEAD + onset(speech)))
    results: dict[str, Any] = {}
    for name, turn in SETTINGS.items():
        for pause in (False, True) if name != "legacy" else (False,):
            to_silence: list[float] = []
            held: list[float] = []
            missed = 0
            for _, barge_in, audio, start in corpus:
                silent, hold = await replay(vad, stt, turn, audio, pause=pause, onset=start)
                if barge_in:
                    if silent is None:
                        missed += 1
                    else:
                        to_silence.append(silent)
                elif hold is not None:
                    held.append(hold)
            key = f"{name}, pause {'on' if pause else 'off'}"
            results[key] = {
                "barge_in_to_silence_p50_p95": summary(to_silence),
                "barge_ins_missed": f"{missed}/{len(BARGE_INS) * len(VOICES)}",
                "backchannel_hold_p50_p95": summary(held),
            }
            print(key, results[key], flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    report("barge_in", argv, run)
