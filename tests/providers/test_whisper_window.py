"""Whisper with an encoder window fitted to the utterance: real speech through faster-whisper,
and the two rules that undo a short window's repeating decoder."""

from __future__ import annotations

import numpy as np
import pytest

from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.local import whisper_window
from livekitex_cli.providers.local.whisper_window import first_copy, spoken, window_seconds
from tests.speech import join, needs_espeak, silence_chunk, speech_chunk

pytest.importorskip("faster_whisper", reason="the local extra is not installed")

from livekitex_cli.providers.local.options import WhisperSTTOptions  # noqa: E402
from livekitex_cli.providers.local.whisper import WhisperSTT  # noqa: E402

RATE = 16_000


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("Stop! Stop! Sto", "Stop!"),
        ("Yeah. Yeah. Yeah.", "Yeah."),
        ("Can you tell me? Can you tell me?", "Can you tell me?"),
        ("uh uh uh uh", "uh"),
        ("I " + "f " * 120, "I f"),  # whisper tiny.en on espeak-ng's "[[m'hm]]"
        ("And then I said, " + "no, " * 30 + "no", "And then I said, no,"),
    ],
)
def test_a_repeated_output_is_cut_back_to_its_first_copy(text: str, first: str) -> None:
    assert first_copy(text) == first


@pytest.mark.parametrize(
    "text",
    [
        "What is the weather in Paris?",
        "I said I",
        "My order number is 4 5 6 7",
        "My PIN is 0 0 0 0 0 0 0",  # fewer than LOOP copies after other words: spoken
        "It was very very very very very good",
        "",
    ],
)
def test_words_that_do_not_repeat_whole_are_kept(text: str) -> None:
    assert first_copy(text) is None


def test_segments_that_start_after_the_audio_are_dropped() -> None:
    begin, eot = 1000, 999
    at = lambda seconds: begin + int(seconds / 0.02)  # noqa: E731
    tokens = [at(0.0), 1, 2, at(1.2), at(1.2), 3, at(1.9), at(2.4), 1, 2, at(3.0), eot]
    assert spoken(tokens, begin, eot, end=2.0) == [1, 2, 3]
    assert spoken(tokens, begin, eot, end=3.0) == [1, 2, 3, 1, 2]


def test_the_window_is_the_speech_and_a_second_in_whole_seconds() -> None:
    assert window_seconds(RATE) == whisper_window.MIN_WINDOW
    assert window_seconds(int(6.2 * RATE)) == 8
    assert window_seconds(int(whisper_window.MAX_AUDIO * RATE)) <= 30
    assert whisper_window.fits(np.zeros(int(whisper_window.MAX_AUDIO * RATE)))
    assert not whisper_window.fits(np.zeros(int(whisper_window.MAX_AUDIO * RATE) + 1))


@pytest.mark.local_models
@needs_espeak
async def test_a_sentence_in_a_short_window_is_heard_once() -> None:
    """Without the two rules, whisper wrote this sentence seven and a half times over."""
    sentence = speech_chunk("I would like to book a table for two people tonight.")
    heard = await WhisperSTT().transcribe(join(silence_chunk(0.1), sentence, silence_chunk(0.2)))
    assert heard.text.lower().count("table") == 1


@pytest.mark.local_models
@needs_espeak
async def test_fitted_and_full_windows_hear_the_same_question() -> None:
    audio = join(speech_chunk("What is the weather like in Paris today?"), silence_chunk(0.3))
    fitted = await WhisperSTT().transcribe(audio)
    full = await WhisperSTT(WhisperSTTOptions(fit_window=False)).transcribe(audio)
    for text in (fitted.text.lower(), full.text.lower()):
        assert "weather" in text and "paris" in text


@pytest.mark.local_models
async def test_silence_in_a_fitted_window_is_no_words() -> None:
    heard = await WhisperSTT().transcribe(silence_chunk(1.0))
    assert heard.text == ""


@pytest.mark.local_models
@needs_espeak
async def test_a_hum_is_not_heard_as_a_loop() -> None:
    """espeak-ng humming "mhm" (given as phonemes), cut as the VAD cut it (a little silence
    before, none after): whisper tiny.en wrote "I th th th ..." to the end of its token budget,
    a transcript shown to users and sent to the LLM as a turn."""
    hum = speech_chunk("[[m'hm]]").to_array()
    voiced = np.nonzero(np.abs(hum) > 50)[0]
    hum = hum[voiced[0] : voiced[-1] + 1]
    heard = await WhisperSTT().transcribe(
        join(silence_chunk(0.14), AudioChunk.from_array(hum, RATE))
    )
    assert heard.text == "", heard.text  # whisper itself judged it no speech (0.9)
