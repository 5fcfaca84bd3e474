"""Whisper tiny.en with a window fitted to the utterance against faster-whisper's 30 s window,
and Moonshine tiny-en beside them: time per utterance and word error rate on the turn-taking
corpus (whole sentences, their first halves, backchannels, barge-ins; espeak-ng at two speeds
and the piper voice).

The three are run one after the other on each clip, so load on the machine hits all alike.
Word errors count digits as words ("4 5 6 7" is four words) and ignore case and punctuation.

The same clips again, damaged as a lossy network or a starved browser damages them: 8 % of
the 20 ms packets lost (silence where they were) and noise at -50 dBFS, seeded.

Run: ``python -m bench stt_window [--json FILE]`` (needs espeak-ng and the local extra).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from bench.common import report
from bench.turn_taking import BACKCHANNELS, BARGE_INS, SPLIT
from bench.voices import VOICES, speak
from livekitex_cli.providers.audio import AudioChunk

DIGITS = dict(
    zip("0123456789", "zero one two three four five six seven eight nine".split(), strict=True)
)
TEXTS = [
    *(f"{first} {second}" for first, second in SPLIT),
    *(first for first, _ in SPLIT),
    *BACKCHANNELS,
    *BARGE_INS,
]


def words(text: str) -> list[str]:
    plain = "".join(c if c.isalnum() else " " for c in text.lower())
    out: list[str] = []
    for word in plain.split():
        out += [DIGITS[c] for c in word] if word.isdigit() else [word]
    return out


def edits(said: list[str], heard: list[str]) -> int:
    row = list(range(len(heard) + 1))
    for i, word in enumerate(said, 1):
        diagonal, row[0] = row[0], i
        for j, other in enumerate(heard, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (word != other))
    return row[-1]


async def run() -> dict[str, Any]:
    from livekitex_cli.providers.local.moonshine import MoonshineSTT
    from livekitex_cli.providers.local.options import WhisperSTTOptions
    from livekitex_cli.providers.local.whisper import WhisperSTT

    kinds = {
        "fitted": WhisperSTT(),
        "30 s": WhisperSTT(WhisperSTTOptions(fit_window=False)),
        "moonshine": MoonshineSTT(),
    }
    for stt in kinds.values():
        await stt.load()
    clips: list[tuple[str, np.ndarray]] = []
    for voice in VOICES:
        for text in TEXTS:
            spoken = await speak(text, voice)
            clips.append(
                (text, np.concatenate([np.zeros(1600, np.int16), spoken, np.zeros(3200, np.int16)]))
            )
    out: dict[str, Any] = {"utterances": len(clips)}
    out["clean"] = await compare(kinds, clips)
    damaged = [(text, damage(audio, seed)) for seed, (text, audio) in enumerate(clips)]
    out["damaged"] = await compare(kinds, damaged)
    return out


def damage(audio: np.ndarray, seed: int) -> np.ndarray:
    """8 % of the 20 ms packets lost, noise at -50 dBFS."""
    rng = np.random.default_rng(seed)
    out = audio.astype(np.float32)
    for start in range(0, out.size, 320):
        if rng.random() < 0.08:
            out[start : start + 320] = 0
    out += rng.normal(0, 32768 * 10 ** (-50 / 20), out.size)
    return np.clip(out, -32768, 32767).astype(np.int16)


async def compare(kinds: dict[str, Any], clips: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in kinds}
    errors = dict.fromkeys(kinds, 0)
    said_words = 0
    for text, samples in clips:
        audio = AudioChunk(samples.tobytes(), 16_000, 1)
        said = words(text)
        said_words += len(said)
        for name, stt in kinds.items():
            started = time.perf_counter()
            heard = await stt.transcribe(audio)
            times[name].append(time.perf_counter() - started)
            errors[name] += edits(said, words(heard.text))
    out: dict[str, Any] = {"words": said_words}
    for name in kinds:
        ordered = sorted(times[name])
        out[name] = {
            "median_ms": round(1000 * statistics.median(ordered)),
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))]),
            "word_error_rate": round(errors[name] / said_words, 3),
        }
    paired = [full / fitted for fitted, full in zip(times["fitted"], times["30 s"], strict=True)]
    out["speedup_median"] = round(statistics.median(paired), 2)
    paired = [
        fitted / moon for fitted, moon in zip(times["fitted"], times["moonshine"], strict=True)
    ]
    out["moonshine_speedup_median"] = round(statistics.median(paired), 2)
    print(out, flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    report("stt_window", argv, run)
