"""The agent's own voice in the user's microphone, with the echo guard on and off.

The agent says a line (espeak-ng or piper); the microphone picks it up 50, 100 or 150 ms late
at -10 dB over low noise (and, for barge-ins, the user's words 1 s in). The microphone goes
through ``EchoGuard`` (as a room session's does: the far end fed as it plays out) or not, then
the Silero VAD's turn detector; each utterance is transcribed by whisper and judged by each
preset's interruption rule (as ``bench/turn_taking.py`` judges overlapping speech).

- echo self-interruptions: echo-only cases in which some utterance would stop the agent
- barge-ins missed: cases in which no utterance overlapping the user's words would
- words heard: of the user's words, those whisper heard in the utterances from the user's
  start on (what the STT gets: a canceller can damage the words it lets through)

    python -m bench turn_echo      # this part of ``python -m bench turn_taking`` alone
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.voices import speak
from livekitex_cli.config.turn import TurnSettings
from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import STT, VAD
from livekitex_cli.session.audio_input import Resampler, SpeechEnded, TurnDetector
from livekitex_cli.session.turn_taking import words_that_count
from livekitex_cli.worker.echo_guard import EchoGuard

RATE = 48_000
STEP = RATE // 100  # 10 ms
LINES = (
    "Let me tell you about the weather in the mountains this week.",
    "Your order shipped on Monday and should arrive by Thursday.",
    "I can book a table for two at seven, or a later one at nine.",
)
USER = ("Wait, that is wrong.", "Stop, tell me about trains.", "No, I meant Tuesday.")
VOICES = ("espeak-150", "piper")
DELAYS = (0.05, 0.1, 0.15)
USER_AT = 1.0


def mix(
    far: np.ndarray,
    delay: float,
    user: np.ndarray | None,
    seed: int,
    *,
    user_at: float = USER_AT,
    gain_db: float = -10.0,
) -> np.ndarray:
    """The microphone: ``far`` back ``delay`` s late at ``gain_db`` (-10 dB; none at all for
    headphones), noise near -60 dBFS, the user from ``user_at`` s."""
    lag, start = int(delay * RATE), int(user_at * RATE)
    own = user if user is not None else np.zeros(0)
    size = max(far.size + lag, start + own.size) + RATE
    mic = np.random.default_rng(seed).normal(0.0, 30.0, size)
    mic[lag : lag + far.size] += far * 10 ** (gain_db / 20)
    mic[start : start + own.size] += own
    return np.asarray(mic.clip(-32768, 32767), dtype=np.int16)


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def utterances(vad: VAD, far: np.ndarray, mic: np.ndarray, guarded: bool) -> list[SpeechEnded]:
    vad.reset()
    clock = _Clock()
    guard = EchoGuard(sample_rate=RATE, clock=clock) if guarded else None
    if guard is not None:  # queued at once, as the room's source takes a second ahead
        for index in range(0, far.size, 2 * STEP):
            piece = AudioChunk(far[index : index + 2 * STEP].tobytes(), RATE, 1)
            guard.played(piece, index / RATE)
    detector = TurnDetector(vad, endpointing_delay=0.5)
    resampler = Resampler(vad.sample_rate)
    ended: list[SpeechEnded] = []
    for frame, start in enumerate(range(0, mic.size - STEP + 1, STEP)):
        clock.now = frame / 100 + 0.001
        pcm = mic[start : start + STEP].tobytes()
        cleaned = np.frombuffer(guard.process(pcm) if guard else pcm, dtype=np.int16)
        events = detector.push(resampler.push(cleaned, RATE))
        ended += [e for e in events if isinstance(e, SpeechEnded)]
    ended += [e for e in detector.flush() if isinstance(e, SpeechEnded)]
    return ended


def stops(turn: TurnSettings, said: str, seconds: float) -> bool:
    """Whether overlapping speech of ``seconds`` that whisper heard as ``said`` stops the agent."""
    rules = turn.interruption
    return seconds >= rules.min_duration and (
        not rules.needs_words
        or len(words_that_count(said, rules.backchannels)) >= max(1, rules.min_words)
    )


async def echo_cases(vad: VAD, stt: STT, settings: dict[str, TurnSettings]) -> dict[str, Any]:
    """Three kinds of case: ``echo`` (nothing but the agent's echo), ``barge_in`` (the user 1 s
    into the echo), ``headphones`` (no echo at all, the user 1, 2 or 3 s into the agent's
    first line of the call, where a canceller fed a far end it never finds held speech
    down)."""
    cases: list[tuple[str, np.ndarray, float]] = []  # kind, mic, the user's start (or 0)
    fars: list[np.ndarray] = []
    texts: list[str] = []  # the user's words in each case ("" in echo-only ones)
    seed = 0
    for voice in VOICES:
        for line in LINES:
            far = await speak(line, voice, RATE)
            for delay in DELAYS:
                seed += 1
                cases.append(("echo", mix(far, delay, None, seed), 0.0))
                fars.append(far)
                texts.append("")
        far = await speak(LINES[0], voice, RATE)
        for index, text in enumerate(USER):
            user = await speak(text, voice, RATE)
            seed += 1
            cases.append(("barge_in", mix(far, 0.1, user, seed), USER_AT))
            at = 1.0 + index
            seed += 1
            cases.append(("headphones", mix(far, 0.1, user, seed, user_at=at, gain_db=-200), at))
            after = far.size / RATE + 0.5  # no echo, the user just after the agent's line
            seed += 1
            cases.append(("after", mix(far, 0.1, user, seed, user_at=after, gain_db=-200), after))
            fars += [far, far, far]
            texts += [text, text, text]
    kinds = ("echo", "barge_in", "headphones", "after")
    out: dict[str, Any] = {"cases": {kind: sum(c[0] == kind for c in cases) for kind in kinds}}
    for guarded in (False, True):
        heard: list[tuple[str, float, list[tuple[str, float, float]]]] = []
        for (kind, mic, user_at), far in zip(cases, fars, strict=True):
            found = []
            for event in utterances(vad, far, mic, guarded):
                said = (await stt.transcribe(event.utterance)).text
                found.append((said, event.utterance.duration, event.speech_end))
            heard.append((kind, user_at, found))
        said = {
            kind: _words_heard(
                [(text, found) for (case, _, found), text in zip(heard, texts, strict=True)
                 if case == kind]
            )
            for kind in kinds[1:]
        }  # fmt: skip
        guard = f"guard {'on' if guarded else 'off'}"
        out[f"words heard, {guard}"] = said
        print(f"words heard, {guard}", said, flush=True)
        for name, turn in settings.items():
            echo_stops = sum(
                any(stops(turn, s, d) for s, d, _ in found)
                for kind, _, found in heard
                if kind == "echo"
            )
            missed = {
                kind: sum(
                    not any(stops(turn, s, d) and end >= at for s, d, end in found)
                    for case, at, found in heard
                    if case == kind
                )
                for kind in kinds[1:3]
            }
            key = f"{name} {guard}"
            out[key] = {
                "echo_self_interruptions": f"{echo_stops}/{out['cases']['echo']}",
                "barge_ins_missed": f"{missed['barge_in']}/{out['cases']['barge_in']}",
                "barge_ins_missed_no_echo": f"{missed['headphones']}/{out['cases']['headphones']}",
            }
            print(key, out[key], flush=True)
    return out


def _words(text: str) -> list[str]:
    return [word.strip(".,?!;:") for word in text.lower().split() if word.strip(".,?!;:")]


def _words_heard(cases: list[tuple[str, list[tuple[str, float, float]]]]) -> str:
    """Of the user's words in ``cases`` (text, what was heard), how many whisper heard."""
    found = total = 0
    for text, heard in cases:
        wanted = _words(text)
        got = [word for said, _, _ in heard for word in _words(said)]
        total += len(wanted)
        found += sum(min(wanted.count(w), got.count(w)) for w in set(wanted))
    return f"{found}/{total}"


async def _run() -> dict[str, Any]:
    from bench.turn_taking import SETTINGS
    from livekitex_cli.providers.energy import EnergyVAD, EnergyVADOptions
    from livekitex_cli.providers.local.silero import SileroVAD
    from livekitex_cli.providers.local.whisper import WhisperSTT

    stt = WhisperSTT()
    await stt.load()
    results = {"echo": await echo_cases(SileroVAD(), stt, SETTINGS)}
    print("the same with the energy VAD", flush=True)
    energy = EnergyVAD(EnergyVADOptions(threshold_db=-40))  # agent.example.yaml's
    results["echo_energy_vad"] = await echo_cases(energy, stt, SETTINGS)
    return results


def main(argv: list[str] | None = None) -> None:
    from bench.common import report

    report("turn_echo", argv, _run)
