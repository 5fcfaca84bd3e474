"""Jobs under faults, against the real server: a participant leaving mid-reply, the server dying
mid-conversation, tools that crash, hang, block their thread or return 10 MB in one room while
another room goes on, logs that cannot be written (disk full), and twenty participants talking
at once in one room (a participant flooding chat: ``test_chat_flood.py``)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI, Text, ToolCalls
from livekitex_cli.testing.distributions import write_tool_distribution
from livekitex_cli.worker.devserver import quiet_port
from tests.livekit_server import LiveKitServer, needs_server
from tests.waiting import until

pytestmark = [needs_server, pytest.mark.livekit]
SUPPORT = "agents/support-agent.yaml"
GREETING = "Hello! I can check an order or open a support ticket. What can I do for you?"
FAULTY = """\
name: faulty
instructions: Use the tools.
greeting: Ready.
tools: [crash_tool, hang_tool, stuck_tool, held_tool, huge_tool]
llm: {provider: openai, model: m}
"""
TOOLS = '''\
import asyncio
import os
import time
from pathlib import Path

from livekitex_cli.tools import function_tool


@function_tool
def crash_tool() -> str:
    """Crashes."""
    raise RuntimeError("the tool crashed")


@function_tool(timeout=1)
async def hang_tool() -> str:
    """Never returns."""
    await asyncio.Event().wait()
    return "never"


@function_tool(timeout=1)
def stuck_tool() -> str:
    """Blocks its thread past its timeout."""
    time.sleep(3)
    return "late"


@function_tool(timeout=120)
async def held_tool() -> str:
    """Waits until the test lets it go."""
    gate = Path(os.environ["LKX_TEST_GATE"])
    (gate / "started").touch()
    while not (gate / "release").exists():
        await asyncio.sleep(0.05)
    return "released"


@function_tool
def huge_tool() -> str:
    """Returns 10 MB."""
    return "x" * 10_000_000
'''


def agent_state(person: Any) -> str | None:
    agent = person.agent()
    return None if agent is None else agent.attributes.get("lk.agent.state")


@pytest.mark.fault("participant leaves mid-reply")
async def test_participant_leaving_mid_reply(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    worker = start_worker(SUPPORT)
    user = await join("leaver", "support-agent")
    assert await user.next_chat() == GREETING
    threaded_openai.push(Text("A long and slow answer " * 20, chunk_chars=4, delay=0.05))
    await user.say("tell me everything")
    await until(lambda: agent_state(user) == "speaking")
    await user.leave()  # mid-reply
    await worker.until('"msg": "job ended"')
    _, state = await worker.get("/worker")
    # the job ends on its own when its user leaves, or by the server's termination when that
    # comes first (it did, once, under load): either way one job, ended cleanly
    assert state["jobs_total"] in ({"success": 1}, {"terminated": 1}), state["jobs_total"]
    assert worker.process.poll() is None
    other = await join("after-leaver", "support-agent", identity="other")
    assert await other.next_chat() == GREETING


@pytest.mark.fault("LiveKit server killed mid-conversation")
async def test_server_dies_mid_conversation(
    start_worker: Any, join: Any, livekit_server: LiveKitServer
) -> None:
    worker = start_worker(SUPPORT)
    user = await join("doomed", "support-agent")
    assert await user.next_chat() == GREETING
    await asyncio.to_thread(livekit_server.kill)
    await worker.until("connection to the server lost", timeout=30)
    await asyncio.to_thread(livekit_server.start)
    await worker.until('"msg": "worker registered"', count=2, timeout=40)
    fresh = await join("reborn", "support-agent", identity="fresh")
    assert await fresh.next_chat() == GREETING
    await fresh.say("hello after the restart")
    assert await fresh.next_chat() == "You said: hello after the restart"
    assert worker.process.poll() is None


def tool_messages(server: ScriptedOpenAI) -> dict[str, str]:
    """The tool results the LLM got in the latest request, by tool name."""
    messages = server.chat_requests[-1]["messages"]
    names = {
        call["id"]: call["function"]["name"]
        for message in messages if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    }  # fmt: skip
    return {names[m["tool_call_id"]]: m["content"] for m in messages if m["role"] == "tool"}


@pytest.mark.fault("tool raises", "tool hangs", "tool blocks its thread", "tool returns 10 MB")
async def test_crashing_and_hanging_tools_do_not_stop_other_rooms(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    plugin, gate = tmp_path / "plugin", tmp_path / "gate"
    plugin.mkdir()
    gate.mkdir()
    write_tool_distribution(
        plugin, name="fault-tools", module="fault_tools", source=TOOLS,
        tools={name: f"fault_tools:{name}" for name in
               ("crash_tool", "hang_tool", "stuck_tool", "held_tool", "huge_tool")},
    )  # fmt: skip
    agent = tmp_path / "faulty.yaml"
    agent.write_text(FAULTY)
    path = os.pathsep.join(filter(None, [str(plugin), os.environ.get("PYTHONPATH")]))
    worker = start_worker(str(agent), env={"PYTHONPATH": path, "LKX_TEST_GATE": str(gate)})
    calm = await join("calm-room", "faulty", identity="calm")
    stormy = await join("stormy-room", "faulty", identity="stormy")
    assert await calm.next_chat() == "Ready." and await stormy.next_chat() == "Ready."

    # a tool that raises, one that never returns, one that blocks its thread: all contained
    threaded_openai.push(
        ToolCalls([("crash_tool", "{}"), ("hang_tool", "{}"), ("stuck_tool", "{}")])
    )
    await stormy.say("break things")
    answer = await stormy.next_chat()
    results = tool_messages(threaded_openai)
    assert "RuntimeError: the tool crashed" in results["crash_tool"]
    assert "timed out after 1" in results["hang_tool"]
    assert "timed out after 1" in results["stuck_tool"]
    assert answer == f"The tool said: {results['stuck_tool']}"

    # while a tool of one room is held, the other room goes on
    threaded_openai.push(ToolCalls([("held_tool", "{}")]))
    await stormy.say("hold on")
    await until(lambda: (gate / "started").exists())
    await calm.say("are you fine?")
    assert await calm.next_chat() == "You said: are you fine?"
    assert stormy.chat.empty()  # its tool has not returned: it cannot have answered
    (gate / "release").touch()
    assert await stormy.next_chat() == "The tool said: released"

    # a tool returning 10 MB: the LLM and the room get a truncated text, the job goes on
    threaded_openai.push(ToolCalls([("huge_tool", "{}")]))
    await stormy.say("give me everything")
    huge = await stormy.next_chat()
    assert huge.startswith("The tool said: xxx") and huge.endswith("characters]")
    assert "truncated" in huge and len(huge) < 20_000
    assert len(tool_messages(threaded_openai)["huge_tool"]) < 20_000

    await stormy.say("and you?")
    assert await stormy.next_chat() == "You said: and you?"
    assert worker.process.poll() is None and "Traceback" not in worker.output()


@pytest.mark.fault("disk full for logs")
async def test_logs_on_a_full_disk(start_worker: Any, join: Any) -> None:
    # every write fails (ENOSPC), so the log cannot name a port: one is chosen here
    worker = start_worker(SUPPORT, ready=False, log=Path("/dev/full"), health_port=quiet_port())
    await worker.healthy()
    user = await join("full-disk", "support-agent")
    assert await user.next_chat() == GREETING
    await user.say("can you still hear me?")
    assert await user.next_chat() == "You said: can you still hear me?"
    worker.signal(signal.SIGTERM)
    await user.leave()
    assert await worker.exited(30) == 0


@pytest.mark.fault("twenty participants talking at once")
async def test_twenty_participants_talking_at_once(start_worker: Any, join: Any) -> None:
    worker = start_worker(SUPPORT)
    linked = await join("crowd", "support-agent", identity="p0")
    assert await linked.next_chat() == GREETING  # the agent has linked to p0
    others = [await join("crowd", None, identity=f"p{index}") for index in range(1, 20)]
    said = {f"p{index}": [f"p{index} says {n}" for n in range(3)] for index in range(20)}
    await asyncio.gather(
        *(person.say(text) for index, person in enumerate([linked, *others])
          for text in said[f"p{index}"])
    )  # fmt: skip
    await linked.say("p0 is done")
    agent = (await linked.wait_agent()).identity

    def from_agent(person: Any) -> list[str]:
        return [text for sender, text in person.heard if sender == agent and text != GREETING]

    await until(lambda: any(r.endswith("p0 is done") for r in from_agent(linked)), timeout=60)
    replies = from_agent(linked)
    # the agent answered its linked participant, every message once (what came while it was
    # busy joined into one turn, see worker/chat_input.py), and nobody else
    lines = [line for reply in replies for line in reply.removeprefix("You said: ").split("\n")]
    assert sorted(lines) == sorted([*said["p0"], "p0 is done"]) and lines[-1] == "p0 is done"
    for person in others:  # everyone in the room hears the same replies
        await until(lambda person=person: len(from_agent(person)) == len(replies))
        assert sorted(from_agent(person)) == sorted(replies)
    _, state = await worker.get("/worker")
    assert len(state["agents"][0]["jobs"]) == 1 and worker.process.poll() is None
