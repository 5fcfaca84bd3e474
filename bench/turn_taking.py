"""Turn-taking on a labelled corpus spoken by espeak-ng (two speeds) and a piper voice, per preset.

- paused sentences (one turn each, a pause inside): premature end-of-turn rate
- complete sentences then silence (a true end): end-of-turn delay after the last speech frame
- backchannels spoken over the agent (mhm, uh-huh, yeah, ...): false interruption rate
- barge-ins spoken over the agent (wait, stop, ...): missed interruption rate

It runs the session's own decision parts (``TurnDetector`` with the preset's delays, the
``detection: stt`` sentence-end rule, the interruption word rule) on the audio directly, with
the Silero VAD and faster-whisper tiny.en of the local extra, Smart Turn v3.2 for
``detection: model`` and SmolLM2-135M for ``detection: text``; the session wiring around them is
what the tests cover. The end-of-turn delay of ``stt``/``model``/``text`` includes the time the
STT or the model took (``signal_ms``). ``transcript_ready`` is the time from the last speech
frame until the turn is decided and its transcript is in hand (what the LLM waits for): with
``vad`` or ``model`` the STT runs after the decision, with ``stt`` and ``text`` it ran before it
and its transcript is reused.

Run: ``python -m bench turn_taking [--json FILE] [--stt moonshine] [--only balanced+text,...]``
(needs espeak-ng and the local extra; ``--only`` skips the overlapping-speech and echo cases).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from bench.common import report
from bench.turn_echo import echo_cases, stops
from bench.voices import VOICES, speak
from livekitex_cli.config.turn import LEGACY, PRESETS, Detection, TurnSettings
from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import STT, VAD
from livekitex_cli.session.audio_input import SpeechEnded, TurnDetector
from livekitex_cli.session.endpointing import ends_sentence, sure_end

RATE = 16_000
SPLIT = [
    ("I would like to book a table", "for two people tonight."),
    ("Can you tell me", "what the weather is like in Paris?"),
    ("My order number is", "four five six seven."),
    ("I was wondering if", "you could help me with my account."),
    ("Please send the report to", "my manager before Friday."),
    ("The meeting is on", "Tuesday at three in the afternoon."),
]
PAUSES = (0.1, 0.3, 0.5)  # silence added inside (espeak-ng ends each part with its own)
BACKCHANNELS = ("Mhm.", "Uh-huh.", "Yeah.", "Okay.", "Right.", "Mm-hmm.")
BARGE_INS = (
    "Wait, that is wrong.",
    "Stop, tell me about trains.",
    "No, I meant Tuesday.",
    "Hold on a second.",
    "Can you repeat that?",
    "Actually, cancel my order.",
)
SETTINGS: dict[str, TurnSettings] = {"legacy": LEGACY, **PRESETS}


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def frames_of(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, audio.size - size + 1, size)]


async def endpoint(
    vad: VAD, stt: STT | None, turn: TurnSettings, audio: np.ndarray, models: Any = None
) -> tuple[list[SpeechEnded], list[float]]:
    """The turns found in ``audio`` under ``turn`` (``detection: stt`` / ``model`` / ``text``
    ask the STT, Smart Turn or the text model at each pause, from ``judge_delay`` seconds of
    silence on, as the session does), and the seconds each question took. The question's time passes
    in audio time: a turn judged complete ends ``min_delay`` after the last speech or when the
    answer came, whichever is later, unless speech came back first; while a question is in
    flight no other pause is judged (as in the session: one judgement at a time). ``models``:
    ``{"model": SmartTurn, "text": TextTurn}``."""
    vad.reset()
    stt_mode = turn.detection != "vad" and stt is not None
    detector = TurnDetector(vad, endpointing_delay=turn.endpointing_delay)
    ended: list[SpeechEnded] = []
    asked: set[float] = set()
    stt_seconds: list[float] = []
    due: tuple[float, float] | None = None  # (the pause's mark, the silence it ends at)
    step = vad.frame_samples / RATE
    now = free_at = 0.0  # audio time; a question in flight holds the next one until it is done
    for frame in frames_of(audio, vad.frame_samples):
        now += step
        ended += [e for e in detector.push(frame) if isinstance(e, SpeechEnded)]
        mark = detector.last_speech_at
        if due is not None and (not detector.in_speech or due[0] != mark):
            due = None  # the user spoke again before the judgement was due (or the VAD ended it)
        if due is not None and detector.silence >= due[1]:
            due = None
            event = detector.end_now()
            if event is not None:
                ended.append(event)
            continue
        if not stt_mode or not detector.in_speech or mark in asked:
            continue
        if detector.silence < turn.pause_judged_after or now < free_at:
            continue
        asked.add(mark)
        silence_then = detector.silence
        started = time.perf_counter()
        assert stt is not None
        sure = False
        if turn.detection == "model":
            model = models["model"]
            done = model.probability_now(detector.current_speech()) > model.threshold
        elif turn.detection == "text":
            words = (await stt.transcribe(detector.current_speech())).text
            model = models["text"]
            p = model.probability_now(words) if words else 1.0
            done = p >= model.threshold
            sure = sure_end(p, _or(turn.sure_threshold, model.sure), words)
        else:
            done = ends_sentence((await stt.transcribe(detector.current_speech())).text)
        stt_seconds.append(time.perf_counter() - started)
        free_at = now + stt_seconds[-1]
        if done:
            due = (mark, max(0.0 if sure else turn.min_delay, silence_then + stt_seconds[-1]))
    ended += [e for e in detector.flush() if isinstance(e, SpeechEnded)]
    return ended, stt_seconds


def _or(value: float | None, default: float | None) -> float | None:
    return default if value is None else value


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def run(stt_model: str = "whisper", only: list[str] | None = None) -> dict[str, Any]:
    from livekitex_cli.providers.energy import EnergyVAD, EnergyVADOptions
    from livekitex_cli.providers.local.moonshine import MoonshineSTT
    from livekitex_cli.providers.local.silero import SileroVAD
    from livekitex_cli.providers.local.smart_turn import SmartTurn
    from livekitex_cli.providers.local.text_turn import TextTurn
    from livekitex_cli.providers.local.whisper import WhisperSTT

    vad = SileroVAD()
    stt: STT = MoonshineSTT() if stt_model == "moonshine" else WhisperSTT()
    models = {"model": SmartTurn(), "text": TextTurn()}
    await stt.load()
    for loading in models.values():
        await loading.load()
    paused = [
        np.concatenate(
            [silence(0.3), await speak(a, v), silence(p), await speak(b, v), silence(3.5)]
        )
        for a, b in SPLIT for p in PAUSES for v in VOICES
    ]  # fmt: skip
    complete = [
        np.concatenate([silence(0.3), await speak(f"{a} {b}", s), silence(3.5)])
        for a, b in SPLIT for s in VOICES
    ]  # fmt: skip
    results: dict[str, Any] = {"cases": {"paused": len(paused), "complete": len(complete)}}
    results["stt"] = stt_model
    # a preset's own detection is ``auto``: ``text`` here (an STT, the model installed)
    modes: list[tuple[str, TurnSettings]] = [("legacy", LEGACY)]
    modes += [(f"{preset}+vad", _with(PRESETS[preset], "vad")) for preset in PRESETS]
    modes += [
        (f"{preset}+{how}", _with(PRESETS[preset], how))
        for how in ("stt", "model", "text")
        for preset in ("snappy", "balanced")
    ]
    for name, turn in modes:
        if only and name not in only:
            continue
        premature, calls = 0, 0
        for audio in paused:
            turns, seconds = await endpoint(vad, stt, turn, audio, models)
            premature += len(turns) > 1
            calls += stt_calls(turn, turns, seconds)
        delays, asked, ready = [], [], []
        for audio in complete:
            turns, seconds = await endpoint(vad, stt, turn, audio, models)
            calls += stt_calls(turn, turns, seconds)
            asked += seconds
            last = turns[-1]
            delays.append(last.detection_delay * 1000)  # the question's time included
            transcribing = 0.0
            if turn.detection in ("vad", "model"):  # the STT runs once the turn is decided
                started = time.perf_counter()
                await stt.transcribe(last.utterance)
                transcribing = (time.perf_counter() - started) * 1000
            ready.append(delays[-1] + transcribing)
        results[name] = {
            "premature_end_of_turn": f"{premature}/{len(paused)}",
            "end_of_turn_ms_p50": round(statistics.median(delays)),
            "end_of_turn_ms_p95": round(percentile(delays, 95)),
            "signal_ms_p50": round(statistics.median(asked) * 1000) if asked else None,
            "transcript_ready_ms_p50": round(statistics.median(ready)),
            "transcript_ready_ms_p95": round(percentile(ready, 95)),
            "stt_calls_per_sentence": round(calls / (len(paused) + len(complete)), 2),
        }
        print(name, results[name], flush=True)
    if only:  # some modes only: no interruption and echo cases
        return results
    results["interruptions"] = await interruptions(vad, stt)
    results["echo"] = await echo_cases(vad, stt, SETTINGS)
    energy = EnergyVAD(EnergyVADOptions(threshold_db=-40))  # agent.example.yaml's
    print("the same with the energy VAD", flush=True)
    results["echo_energy_vad"] = await echo_cases(energy, stt, SETTINGS)
    return results


def stt_calls(turn: TurnSettings, turns: list[SpeechEnded], questions: list[float]) -> int:
    """How often the STT ran for these turns: once per turn after it ended (``vad``, ``model``),
    or once per pause judged plus once per turn the VAD ended at ``max_delay`` (``stt``,
    ``text``: a turn a judgement ended reuses that judgement's transcript)."""
    if turn.detection not in ("stt", "text"):
        return len(turns)
    by_silence = sum(t.detection_delay + 1e-6 >= turn.endpointing_delay for t in turns)
    return len(questions) + by_silence


def _with(turn: TurnSettings, detection: Detection) -> TurnSettings:
    from dataclasses import replace

    return replace(turn, preset=f"{turn.preset}+{detection}", detection=detection)


async def interruptions(vad: VAD, stt: STT) -> dict[str, Any]:
    """Backchannels and barge-ins over the agent: which would stop it, per preset."""
    heard: dict[str, tuple[str, float]] = {}
    for text in (*BACKCHANNELS, *BARGE_INS):
        for speed in VOICES:
            audio = np.concatenate([silence(0.3), await speak(text, speed), silence(1.0)])
            turns, _ = await endpoint(vad, None, LEGACY, audio)
            if not turns:
                heard[f"{text}@{speed}"] = ("", 0.0)
                continue
            utterance: AudioChunk = turns[0].utterance
            said = (await stt.transcribe(utterance)).text
            heard[f"{text}@{speed}"] = (said, utterance.duration)
    out: dict[str, Any] = {"transcripts": {k: v[0] for k, v in heard.items()}}
    for name, turn in SETTINGS.items():
        false_stops = missed = 0
        for key, (said, seconds) in heard.items():
            stopped = stops(turn, said, seconds)
            if key.split("@")[0] in BACKCHANNELS:
                false_stops += stopped
            else:
                missed += not stopped
        total = len(VOICES)
        out[name] = {
            "backchannels_interrupting": f"{false_stops}/{len(BACKCHANNELS) * total}",
            "barge_ins_missed": f"{missed}/{len(BARGE_INS) * total}",
        }
        print(name, out[name], flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--stt", choices=("whisper", "moonshine"), default="whisper")
        parser.add_argument("--only", help="settings to run, comma-separated: balanced+text,...")

    async def start(args: argparse.Namespace) -> dict[str, Any]:
        return await run(args.stt, args.only.split(",") if args.only else None)

    report("turn_taking", argv, start, options)
