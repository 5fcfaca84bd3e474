"""A participant flooding chat, through a real worker and the real LiveKit server: 1,000
``lk.chat`` messages in about a second cost a bounded number of LLM turns, what exceeds the
bound is dropped and counted on ``/metrics``, and the agent goes on answering promptly; a huge
message is cut short, never a crash."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import Hang, ScriptedOpenAI
from livekitex_cli.worker.chat_input import MAX_MESSAGE_CHARS, MAX_PENDING
from tests.livekit_server import needs_server
from tests.worker.test_metrics import sample

pytestmark = [needs_server, pytest.mark.livekit]
SUPPORT = "agents/support-agent.yaml"
GREETING = "Hello! I can check an order or open a support ticket. What can I do for you?"
FLOOD_AGENT = """\
name: support-agent
instructions: Answer briefly.
greeting: Hello!
llm: {provider: openai, model: m, timeout: 300}
turn: {stall_timeout: 300}  # the first reply is held on purpose: no stall, no timeout
"""
FLOOD = 1000
DROPPED = "lkx_chat_messages_dropped_total"
TRUNCATED = "lkx_chat_messages_truncated_total"


def user_turns(server: ScriptedOpenAI, room_marker: str) -> list[list[str]]:
    """The user message of each LLM request that carried ``room_marker``, as its lines."""
    turns = []
    for body in server.chat_requests:
        last = body["messages"][-1]
        if last["role"] == "user" and room_marker in last["content"]:
            turns.append(last["content"].splitlines())
    return turns


@pytest.mark.faults
@pytest.mark.fault("chat flood")
async def test_chat_flood_is_bounded(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    release = threading.Event()
    # the first turn is busy until the whole flood is in, however long that takes: a turn that
    # ended on its own mid-flood (a 60 s hang, under three test suites at once) made the rest
    # of the flood a second burst, with a second warning
    threaded_openai.push(Hang(300, until=release))
    agent = tmp_path / "flood-agent.yaml"
    agent.write_text(FLOOD_AGENT)
    worker = start_worker(str(agent), "--log-level", "debug")
    flooder = await join("flood-room", "support-agent", identity="flooder")
    calm = await join("quiet-room", "support-agent", identity="quiet")
    assert await flooder.next_chat() == "Hello!" and await calm.next_chat() == "Hello!"
    sent = [f"flood {index}" for index in range(FLOOD)]
    for start in range(0, FLOOD, 100):  # about a second: 100 every 0.1 s
        await asyncio.gather(*(flooder.say(text) for text in sent[start : start + 100]))
        await asyncio.sleep(0.1)
    await flooder.say("last")  # a normal message after the flood, sent while the agent is busy
    await worker.until('"msg": "chat received"', timeout=240, count=FLOOD + 1)
    assert len(threaded_openai.chat_requests) == 1  # the first turn, held
    await calm.say("are you there?")  # another room on the worker is answered meanwhile
    assert await calm.next_chat(timeout=30) == "You said: are you there?"
    release.set()
    assert await flooder.next_chat(timeout=30) == "Sorry, I was asleep."
    joined = await flooder.next_chat(timeout=30)  # the newest messages, one turn
    lines = joined.removeprefix("You said: ").splitlines()
    assert lines[-1] == "last" and len(lines) == MAX_PENDING
    await flooder.say("and now?")
    assert await flooder.next_chat(timeout=30) == "You said: and now?"

    # bounded: the held turn, one turn of the newest messages, and the next message
    turns = user_turns(threaded_openai, "flood") + user_turns(threaded_openai, "and now?")
    assert len(turns) == 3 and turns[1] == lines and turns[2] == ["and now?"]
    answered = [line for turn in turns for line in turn if line.startswith("flood ")]
    assert len(answered) == len(set(answered)) and set(answered) <= set(sent)
    status, metrics = await worker.get("/metrics")
    assert status == 200
    assert sample(metrics, DROPPED) == FLOOD - len(answered) > 0  # every other one, counted
    assert sample(metrics, TRUNCATED) == 0
    output = worker.output()
    assert output.count("older messages dropped") == 1  # one warning for the burst
    status, _ = await worker.get("/health")
    assert status == 200 and worker.process.poll() is None
    assert "Traceback" not in output and '"level": "error"' not in output
    print(f"\nFLOOD {FLOOD} sent, {len(answered)} answered in {len(turns) - 1} turns")


@pytest.mark.faults
@pytest.mark.fault("huge chat message")
async def test_huge_chat_message_is_cut_short(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT)
    user = await join("huge-room", "support-agent", identity="huge")
    assert await user.next_chat() == GREETING
    await user.say("x" * (MAX_MESSAGE_CHARS * 5), timeout=60)
    assert await user.next_chat(timeout=60) == "You said: " + "x" * MAX_MESSAGE_CHARS
    await user.say("still there?")
    assert await user.next_chat(timeout=30) == "You said: still there?"
    _, metrics = await worker.get("/metrics")
    assert sample(metrics, TRUNCATED) == 1 and sample(metrics, DROPPED) == 0
    output = worker.output()
    assert output.count("chat message too long, cut short") == 1
    assert worker.process.poll() is None and "Traceback" not in output
