"""Decode one utterance with an encoder window fitted to it, not whisper's fixed 30 s.

The encoder's cost grows with its window: a 30 s window cost about 0.9 s here for a 2 s
question, a 5 s one under 0.2 s, and the words came out at least as right (bench/stt_window.py).
Whisper was trained on 30 s windows, so in a short one its decoder tends to go on past the
speech, repeating it ("Stop! Stop! Stop!"). Two rules undo that: decoding with timestamps,
a segment that starts after the audio ends is dropped, and an output that repeats itself
(whole, or in a loop that runs to its end) is cut back to its first copy. A loop over audio
whisper itself judged no speech (a hum: "I th th th ...") is no words at all: the loop's
repeated tokens are what made it look likely."""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import numpy as np

from livekitex_cli.providers.local.models import require

RATE = 16_000
FRAME = 160  # samples per feature frame (10 ms)
PAD = 1.0  # s of silence after the speech, so the last word is not at the window's edge
MIN_WINDOW = 5  # s: shorter windows repeat more than the rules can undo
MAX_AUDIO = 28.0  # s: longer utterances take faster-whisper's own 30 s windows
AFTER_END = 0.1  # s: a segment starting later than this before the audio's end is invented
NO_SPEECH = 0.6  # faster-whisper's rule: no speech when this likely and the words unlikely
UNLIKELY = -1.0
LOOP = 8  # copies of a word or phrase that end an output: a decoder loop, not speech
_WORD = re.compile(r"[^\w']+")


def fits(samples: np.ndarray) -> bool:
    return len(samples) <= MAX_AUDIO * RATE


def window_seconds(samples: int) -> int:
    """The encoder window for ``samples`` at 16 kHz: the speech, ``PAD`` more, whole seconds."""
    return max(MIN_WINDOW, math.ceil(samples / RATE + PAD))


def decode(model: Any, samples: np.ndarray, language: str | None, beam_size: int) -> str | None:
    """The words in ``samples`` (16 kHz float), or ``None`` where a full window must decide."""
    ctranslate2 = require("ctranslate2", package="ctranslate2")
    multilingual = model.model.is_multilingual
    if multilingual and language is None:
        return None  # language detection reads a full window
    window = window_seconds(len(samples)) * RATE
    features = model.feature_extractor(np.pad(samples, (0, window - len(samples))))
    features = np.ascontiguousarray(features[None, :, : window // FRAME])
    tokenizer, suppressed = _tokenizer(model, language)
    result = model.model.generate(
        ctranslate2.StorageView.from_array(features),
        [list(tokenizer.sot_sequence)],
        beam_size=beam_size,
        max_length=224,
        suppress_blank=True,
        suppress_tokens=suppressed,
        return_scores=True,
        return_no_speech_prob=True,
    )[0]
    if result.no_speech_prob > NO_SPEECH and result.scores[0] < UNLIKELY:
        return ""
    end = len(samples) / RATE - AFTER_END
    words = spoken(result.sequences_ids[0], tokenizer.timestamp_begin, tokenizer.eot, end)
    text = tokenizer.decode(words).strip()
    first = first_copy(text)
    if first is not None and result.no_speech_prob > NO_SPEECH:
        return ""  # a loop's own words make it look likely: whisper's no-speech judgement holds
    return first or text


@functools.lru_cache(maxsize=8)
def _tokenizer(model: Any, language: str | None) -> tuple[Any, list[int]]:
    """The tokenizer of ``model`` for ``language``, and the tokens it never writes (once)."""
    transcribe = require("faster_whisper.transcribe", package="faster-whisper")
    tokenizers = require("faster_whisper.tokenizer", package="faster-whisper")
    multilingual = model.model.is_multilingual
    tokenizer = tokenizers.Tokenizer(
        model.hf_tokenizer, multilingual, task="transcribe", language=language
    )
    return tokenizer, list(transcribe.get_suppressed_tokens(tokenizer, [-1]))


def spoken(tokens: list[int], timestamp_begin: int, eot: int, end: float) -> list[int]:
    """The text tokens of the segments that start before ``end`` seconds."""
    kept: list[int] = []
    opened: float | None = None
    for token in tokens:
        if token < eot:
            kept.append(token)
        elif token >= timestamp_begin:
            at = (token - timestamp_begin) * 0.02
            if opened is None and at >= end:
                break
            opened = at if opened is None else None
    return kept


def first_copy(text: str) -> str | None:
    """``text`` up to where it began to repeat itself, or ``None`` if it does not: repeated
    whole ("Stop! Stop! Sto"), or ending in a loop of ``LOOP`` or more copies of one word or
    phrase that runs to the end ("I f f f ..." for a hum, 120 times over)."""
    words = text.split()
    keys = [_WORD.sub("", word).lower() for word in words]
    for start in range(len(keys)):
        copies = 2 if start == 0 else LOOP
        for period in range(1, (len(keys) - start) // copies + 1):
            tail = range(start + period, len(keys))
            if all(_same(keys[i], keys[i - period], last=i == len(keys) - 1) for i in tail):
                return " ".join(words[: start + period])
    return None


def _same(word: str, earlier: str, *, last: bool) -> bool:
    return earlier.startswith(word) if last else word == earlier
