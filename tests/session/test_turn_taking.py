"""Turn-taking with real speech (espeak-ng through the VAD; the STT's words are scripted):
pauses inside a sentence, backchannels, barge-ins, false interruptions, interruptions while
thinking and during a tool call. Behaviour only, no timing asserts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livekitex_cli.testing import Hang, ScriptedOpenAI, Text, ToolCalls
from livekitex_cli.tools import ToolRegistry
from tests.session.conftest import openai_agent
from tests.session.test_voice import RATE, push, utterance
from tests.speech import join, needs_espeak, silence_chunk, speech_chunk

pytestmark = needs_espeak
# audio is pushed faster than real time, and only the VAD decides a turn's end in step with it
# (``detection: text`` judges a pause while more audio arrives: test_endpointing.py, in real time)
BALANCED = {"preset": "balanced", "detection": "vad"}
STORY = "Let me tell you a very long story about the weather in the mountains. " * 3


def paused_sentence() -> Any:
    """'I would like to book a table ... for two people tonight': about 0.9 s without
    speech inside (espeak-ng's own trailing silence plus 0.3 s)."""
    return join(
        silence_chunk(0.3, RATE),
        speech_chunk("I would like to book a table", RATE),
        silence_chunk(0.3, RATE),
        speech_chunk("for two people tonight.", RATE),
        silence_chunk(1.6, RATE),
    )


@pytest.mark.parametrize(("preset", "turns"), [("patient", 1), ("snappy", 2)])
async def test_a_paused_sentence_is_one_turn_when_patient(
    openai_server: ScriptedOpenAI, session_factory: Any, preset: str, turns: int
) -> None:
    turn = {"preset": preset, "detection": "vad"}  # silence alone decides
    session, events = await session_factory(openai_agent(voice=True, turn=turn))
    await push(session, paused_sentence())
    await session.wait_idle(15)
    assert openai_server.stt_requests == turns
    assert len(events.of("agent_reply")) == turns


async def _speaking(session: Any, events: Any, seconds: float = 0.6) -> None:
    async with asyncio.timeout(10):
        while sum(e.frame.duration for e in events.of("agent_audio")) < seconds:
            await asyncio.sleep(0.02)
    assert session.state == "speaking"


async def test_a_backchannel_does_not_interrupt(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.seconds_per_char = 0.06  # long agent audio, played in real time
    openai_server.push(Text(STORY))
    openai_server.stt_script.extend(["Mhm.", "Mhm.", "Mhm."])
    session, events = await session_factory(openai_agent(voice=True, turn=BALANCED))
    await session.process_text("tell me a story")
    await _speaking(session, events)
    await push(session, utterance("Mhm.", pause=1.0))
    await asyncio.sleep(0.5)
    assert session.state == "speaking"  # still talking after the user's 'mhm' ended
    assert session.interrupt()  # (end the test's long story)
    await session.wait_idle(15)
    assert len(openai_server.chat_requests) == 1  # 'mhm' was no turn
    assert session.metrics()["interruptions"] == 1  # only the test's own
    ignored = [s for t in events.of("turn") for s in t.steps if s["step"] == "ignored"]
    assert ignored and "mhm" in ignored[0]["detail"].lower()
    steps = [s["step"] for t in events.of("turn") for s in t.steps]
    # the agent held its audio while the 'mhm' was judged, then went on
    assert steps.index("paused") < steps.index("unpaused") < steps.index("ignored")


async def test_a_barge_in_with_words_stops_the_audio_and_is_answered(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.seconds_per_char = 0.06
    openai_server.push(Text(STORY))
    openai_server.stt_script.extend(["Stop, tell me about trains."] * 4)
    session, events = await session_factory(openai_agent(voice=True, turn=BALANCED))
    await session.process_text("tell me a story")
    await _speaking(session, events)
    await push(session, utterance("Stop, tell me about trains.", pause=1.0))
    await session.wait_idle(15)
    first = events.of("agent_reply")[0]
    assert first.interrupted and 0 < len(first.text) < len(STORY.strip())
    assert events.of("agent_reply")[-1].text == "You said: Stop, tell me about trains."
    stopped_at = next(
        i for i, e in enumerate(events.events) if e.type == "agent_reply" and e.interrupted
    )
    late = [e for e in events.events[stopped_at:] if e.type == "agent_audio"]
    assert all(e.turn_id != first.turn_id for e in late)  # no audio of it after it stopped
    reasons = [
        s["detail"] for t in events.of("turn") for s in t.steps if s["step"] == "interrupted"
    ]
    assert reasons and "words" in reasons[0]
    steps = [s["step"] for t in events.of("turn") for s in t.steps]
    assert steps.index("paused") < steps.index("interrupted") and "unpaused" not in steps


async def test_a_false_interruption_resumes_the_reply(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.seconds_per_char = 0.05
    openai_server.push(Text(STORY))
    openai_server.stt_script.append("  ")  # the sound that stopped the agent held no words
    turn = {**BALANCED, "interruption": {"min_duration": 0, "backchannels": []}}
    session, events = await session_factory(openai_agent(voice=True, turn=turn))
    await session.process_text("tell me a story")
    await _speaking(session, events)
    await push(session, utterance("Ah.", pause=0.9))
    await session.wait_idle(30)
    stopped, resumed = events.of("agent_reply")[:2]
    assert stopped.interrupted and not resumed.interrupted
    assert f"{stopped.text} {resumed.text}".split() == STORY.split()  # nothing lost or doubled
    agent_turns = [t.content for t in session.history.turns if t.role == "agent"]
    assert agent_turns == [stopped.text, resumed.text]  # the history is what was played
    assert session.metrics()["false_interruptions"] == 1
    assert events.of("metrics")[-1].metrics["resumed"]
    assert len(openai_server.chat_requests) == 1


async def test_speech_while_thinking_stops_the_reply_and_is_answered(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.push(Hang(3.0))
    openai_server.transcript = "and make it short"
    session, events = await session_factory(openai_agent(voice=True))
    await session.process_text("tell me a story")
    async with asyncio.timeout(5):
        while not openai_server.chat_requests:
            await asyncio.sleep(0.02)
    assert session.state == "thinking"
    await push(session, utterance("And make it short.", pause=0.8))
    await session.wait_idle(15)
    first, second = events.of("agent_reply")
    assert first.interrupted and first.text == ""
    assert second.text == "You said: and make it short"
    users = [
        m["content"] for m in openai_server.chat_requests[-1]["messages"] if m["role"] == "user"
    ]
    assert users == ["tell me a story", "and make it short"]


async def test_a_false_interruption_while_thinking_answers_again(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    openai_server.push(Hang(3.0))  # the first answer is slow, and gets stopped by a cough
    openai_server.stt_script.append("")  # the cough held no words
    session, events = await session_factory(openai_agent(voice=True, turn=BALANCED))
    await session.process_text("tell me a story")
    async with asyncio.timeout(5):
        while not openai_server.chat_requests:
            await asyncio.sleep(0.02)
    await push(session, utterance("Ah.", pause=0.9))
    await session.wait_idle(15)
    replies = events.of("agent_reply")
    assert replies[0].interrupted and replies[0].text == ""
    assert replies[-1].text == "You said: tell me a story"  # answered after all
    assert session.metrics()["false_interruptions"] == 1
    users = [t.content for t in session.history.turns if t.role == "user"]
    assert users == ["tell me a story"]


async def test_speech_during_a_tool_call_lets_the_tool_finish(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    done: list[str] = []

    async def book_table() -> str:
        """Book the table."""
        await asyncio.sleep(1.5)
        done.append("booked")
        return "booked for 8pm"

    agent = openai_agent(voice=True, tools=["book_table"], registry=ToolRegistry([book_table]))
    session, events = await session_factory(agent)
    openai_server.push(ToolCalls([("book_table", "{}")]))
    openai_server.transcript = "actually make it nine"
    await session.process_text("book it")
    async with asyncio.timeout(5):
        while not events.of("tool_call_started"):
            await asyncio.sleep(0.02)
    await push(session, utterance("Actually, make it nine.", pause=0.8))
    await session.wait_idle(15)
    assert done == ["booked"]  # the tool ran to its end, once
    assert events.of("tool_call_finished")[0].output == "booked for 8pm"
    assert events.of("agent_reply")[0].interrupted  # and the reply stopped before speaking
    requests = openai_server.chat_requests
    assert len(requests) == 2  # no round after the tool; then the user's new words
    roles = [m["role"] for m in requests[-1]["messages"]]
    assert "tool" in roles  # the tool's result stays in the history


def test_backchannels_and_hums_do_not_count_as_words() -> None:
    from livekitex_cli.config.turn import BACKCHANNELS
    from livekitex_cli.session.turn_taking import words_that_count

    for heard in (
        "Mhm.",
        "Uh-huh!",
        "Okay",
        "Mm-mm.",
        "uh-uh",
        "Hmm...",
        "Yeah, right.",
        "Ah.",
        "Oh!",
        "F",  # whisper's spelling of an uh-huh
        "I.",
    ):
        assert words_that_count(heard, BACKCHANNELS) == [], heard
    assert words_that_count("Stop. Tell me about trains.", BACKCHANNELS)[:2] == ["stop", "tell"]
    assert words_that_count("Oh, wait.", BACKCHANNELS) == ["wait"]  # a filler before words
    assert words_that_count("mm okay", ()) == ["mm", "okay"]  # no backchannels: every word counts
    assert words_that_count("I meant Tuesday.", BACKCHANNELS) == ["i", "meant", "tuesday"]
    assert words_that_count("5", BACKCHANNELS) == ["5"]  # a digit is a word: the number read out
