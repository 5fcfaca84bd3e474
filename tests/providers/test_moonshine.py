"""Moonshine tiny-en (``stt: {provider: local, model: moonshine-tiny}``): real speech through
the model that ships in ``moonshine-voice``, its vocabulary read from the package's file."""

from __future__ import annotations

import importlib.util

import pytest

from livekitex_cli import create_agent
from livekitex_cli.providers.local.models import moonshine_folder
from tests.speech import join, needs_espeak, noise_chunk, silence_chunk, speech_chunk

pytest.importorskip("onnxruntime", reason="the local extra is not installed")
if importlib.util.find_spec("moonshine_voice") is None:  # its own __init__ is not importable
    pytest.skip("moonshine-voice is not installed (scripts/setup.sh)", allow_module_level=True)

from livekitex_cli.providers.local.moonshine import (  # noqa: E402
    MoonshineSTT,
    detokenize,
    read_vocabulary,
)

pytestmark = needs_espeak


def test_the_vocabulary_is_read_from_the_package_file() -> None:
    pieces = read_vocabulary(moonshine_folder() / "tokenizer.bin")
    assert len(pieces) == 32_768
    assert pieces[:3] == [b"<unk>", b"<s>", b"</s>"]
    assert pieces[3 + ord("A")] == b"A"  # byte fallback: tokens 3-258 are the bytes 0-255
    the, ca = pieces.index("\u2581the".encode()), pieces.index("\u2581ca".encode())
    e_acute = [3 + b for b in "é".encode()]  # a character the vocabulary spells in bytes
    assert detokenize(pieces, [1, the, ca, 3 + ord("f"), *e_acute, 2]) == "the café"


async def test_moonshine_transcribes_real_speech() -> None:
    stt = MoonshineSTT()
    heard = await stt.transcribe(
        join(silence_chunk(0.1), speech_chunk("Stop, tell me about trains."), silence_chunk(0.2))
    )
    assert "stop" in heard.text.lower() and "trains" in heard.text.lower()
    number = await stt.transcribe(speech_chunk("My order number is four five six seven."))
    assert "order number" in number.text.lower()
    assert any(d in number.text.lower() for d in ("four", "4"))


async def test_silence_and_noise_are_no_words() -> None:
    """Moonshine's decoder guesses "You" for silence and noise, unsure (0.1-0.3 a token):
    such a guess is dropped, as it would otherwise stop an agent that is speaking."""
    stt = MoonshineSTT()
    for audio in (silence_chunk(1.0), noise_chunk(1.0), noise_chunk(1.0, level=0.003)):
        assert (await stt.transcribe(audio)).text == ""


def test_the_local_provider_builds_moonshine_by_model_name() -> None:
    agent = create_agent(
        name="fast-ears",
        instructions="Be brief.",
        llm_config={"provider": "local"},
        stt_config={"provider": "local", "model": "moonshine-tiny"},
    )
    assert agent.preflight() == []
    stt = agent.providers.create("stt", "local", agent.provider_options["stt"])
    assert isinstance(stt, MoonshineSTT)
    assert repr(stt) == "<MoonshineSTT model='moonshine-tiny'>"


def test_moonshine_is_refused_for_another_language() -> None:
    agent = create_agent(
        name="de",
        instructions="Sei kurz.",
        llm_config={"provider": "local"},
        stt_config={"provider": "local", "model": "moonshine-tiny", "language": "de"},
    )
    problems = agent.preflight()
    assert len(problems) == 1 and "moonshine-tiny hears English only" in str(problems[0])
