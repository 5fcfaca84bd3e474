"""``lkx dev`` against the real server: YAML and Python edits reload, conversations in progress
survive, a broken file keeps the last good worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI, ToolCalls
from livekitex_cli.testing.distributions import write_tool_distribution
from livekitex_cli.worker.joining import connect_room
from tests.livekit_server import KEY, SECRET, LiveKitServer, dev_env, needs_server

pytestmark = [needs_server, pytest.mark.livekit]
ROOT = Path(__file__).resolve().parents[2]
AGENT = "name: reloader\ninstructions: Test.\ngreeting: {greeting}\ntools: [version_tool]\nllm: {{provider: openai, model: m}}\n"
TOOL = 'from livekitex_cli.tools import function_tool\n\n@function_tool\ndef version_tool() -> str:\n    """Which code runs."""\n    return "{version}"\n'


def make_plugin(folder: Path, version: str) -> None:
    write_tool_distribution(
        folder, name="reload-tools", module="reload_tools", source=TOOL.format(version=version),
        tools={"version_tool": "reload_tools:version_tool"},
    )  # fmt: skip


def wait_output(log: Path, text: str, count: int = 1, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} x{count}: {log.read_text(errors='replace')[-3000:]}")


async def test_dev_reloads_and_keeps_conversations(
    livekit_server: LiveKitServer, threaded_openai: ScriptedOpenAI, join: Any, tmp_path: Path
) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    make_plugin(plugin, "v1")
    agent = tmp_path / "agents" / "reloader.yaml"
    agent.parent.mkdir()
    agent.write_text(AGENT.format(greeting="Greeting one."))
    env = {**os.environ, "LIVEKIT_URL": livekit_server.url, "LIVEKIT_API_KEY": KEY,
           "LIVEKIT_API_SECRET": SECRET, "OPENAI_BASE_URL": threaded_openai.base_url,
           "PYTHONPATH": str(plugin)}  # fmt: skip
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [sys.executable, "-m", "livekitex_cli", "dev", str(agent.parent), "--watch", str(plugin),
             "--playground-port", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
    try:
        wait_output(log, "worker ready in")
        first = await join("before-reload", "reloader", identity="first")
        assert await first.next_chat() == "Greeting one."

        agent.write_text(AGENT.format(greeting="Greeting two."))  # a YAML edit reloads
        wait_output(log, "reloaded in")
        assert "changed: agents/reloader.yaml" in log.read_text()
        second = await join("after-yaml", "reloader", identity="second")
        assert await second.next_chat() == "Greeting two."
        await first.say("are you still there?")  # the old worker drains, it does not drop us
        assert await first.next_chat() == "You said: are you still there?"

        make_plugin(plugin, "v2")  # a Python edit reloads too
        wait_output(log, "reloaded in", count=2)
        assert "(spare worker)" in log.read_text()  # handed to the spare lkx dev keeps ready
        third = await join("after-python", "reloader", identity="third")
        assert await third.next_chat() == "Greeting two."
        threaded_openai.push(ToolCalls([("version_tool", "{}")]))
        await third.say("which version?")
        assert await third.next_chat() == "The tool said: v2"

        agent.write_text("name: reloader\ninstruction: broken\n")  # broken: keep the last good
        wait_output(log, "not reloading, the last good worker keeps serving")
        assert "did you mean 'instructions'" in log.read_text()
        fourth = await join("after-broken", "reloader", identity="fourth")
        assert await fourth.next_chat() == "Greeting two."
        for person in (first, second, third, fourth):
            await person.leave()
    finally:  # Ctrl-C in a terminal: SIGINT to the whole process group (spare included)
        os.killpg(dev.pid, signal.SIGINT)
        code = dev.wait(40)
    assert code == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text() and "KeyboardInterrupt" not in log.read_text()


def test_changes_to_what_a_spare_imported_need_a_fresh_worker(tmp_path: Path) -> None:
    import livekitex_cli.session.activity as turn
    from livekitex_cli.worker.reload import preloaded

    assert preloaded(turn.__file__ or "")  # lkx itself
    assert preloaded(pytest.__file__ or "")  # an installed library
    assert not preloaded(str(ROOT / "agents" / "tools.py"))  # agent code: never preloaded
    assert not preloaded(str(tmp_path / "plugin" / "reload_tools.py"))
    assert not preloaded(str(ROOT / "livekitex_cli" / "agent.example.yaml"))


DEV_AGENT = "name: {name}\ninstructions: Test.\ngreeting: I am {name}.\nllm: {{provider: openai, model: m}}\n"


class DevRun:
    """``lkx dev`` with no ``LIVEKIT_URL``: it starts its own server and prints a token."""

    def __init__(self, folder: Path, log: Path, env: dict[str, str], *args: str) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "livekitex_cli", "dev", str(folder), *args],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
            )  # fmt: skip

    def token(self) -> tuple[str, str]:
        wait_output(self.log, "worker ready in")
        lines = self.log.read_text().splitlines()
        url = next(line for line in lines if "local LiveKit server at" in line).split()[-1]
        return url, lines[next(i for i, line in enumerate(lines) if "with this token:" in line) + 1]

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(40)


async def meet_agent(
    url: str, token: str, say: str | None = None, *, wait: float = 60.0
) -> tuple[str, list[str]]:
    """Join with ``token`` as a plain ``livekit.rtc`` participant; the name of the agent that
    comes (ready: it has ``lk.agent.state``) and what it said in chat: its greeting, and with
    ``say`` its answer to that typed message too. Leaves afterwards."""
    from livekit import rtc

    room = rtc.Room()
    greetings: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    def on_chat(reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            greetings.append(await reader.read_all())

        tasks.add(asyncio.ensure_future(read()))

    room.register_text_stream_handler("lk.chat", on_chat)
    try:
        await connect_room(room, url, token, timeout=20)
        sent = False
        for _ in range(int(wait / 0.05)):  # bounded: for the agent to be ready, greet, answer
            agent = next((p for p in room.remote_participants.values()
                          if "lk.agent.state" in p.attributes), None)  # fmt: skip
            if agent is not None and greetings and say is not None and not sent:
                await room.local_participant.send_text(say, topic="lk.chat")
                sent = True
            if agent is not None and len(greetings) == 1 + sent:
                assert agent.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
                return agent.attributes.get("lk.agent.name", ""), greetings
            await asyncio.sleep(0.05)
        return "", greetings
    finally:
        await asyncio.gather(*tasks, return_exceptions=True)
        await room.disconnect()


async def test_dev_token_brings_an_agent_and_two_runs_side_by_side(
    threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    """Agents register with a name, so LiveKit sends them explicit dispatches only: the token
    ``lkx dev`` prints carries one. Two runs at once each get a server on free ports."""
    folder = tmp_path / "agents"
    folder.mkdir()
    for name in ("alpha", "beta"):
        (folder / f"{name}.yaml").write_text(DEV_AGENT.format(name=name))
    env = dev_env(threaded_openai.base_url)
    runs = [
        DevRun(folder, tmp_path / "first.log", env, "--no-playground"),
        DevRun(folder, tmp_path / "second.log", env, "--agent", "beta", "--playground-port", "0"),
    ]
    try:
        tokens = [run.token() for run in runs]
        assert tokens[0][0] != tokens[1][0]  # two servers, two ports
        assert "agent 'alpha' joins it" in runs[0].log.read_text()  # the first served agent
        assert "agent 'beta' joins it" in runs[1].log.read_text()  # or --agent NAME
        assert "playground at" not in runs[0].log.read_text()
        assert "playground at http://127.0.0.1:" in runs[1].log.read_text()
        for (url, token), expected in zip(tokens, ("alpha", "beta"), strict=True):
            said = await meet_agent(url, token, say=f"hi {expected}")
            assert said == (expected, [f"I am {expected}.", f"You said: hi {expected}"])
        # the room closes 2 s after everyone left (later on a busy server: joining it before
        # then finds it agentless), so the same token brings the agent again
        for _ in range(10):
            await asyncio.sleep(3)
            again = await meet_agent(*tokens[0], wait=15)
            if again[0]:
                break
        assert again == ("alpha", ["I am alpha."])
    finally:
        codes = [run.stop() for run in runs]
    assert codes == [0, 0], [run.log.read_text()[-2000:] for run in runs]


def worker_child(pid: int) -> bool:
    """Whether process ``pid`` has started its ``lkx start`` child."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid and b"livekitex_cli\0start" in (stat.parent / "cmdline").read_bytes():
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def one_agent(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "alpha.yaml").write_text(DEV_AGENT.format(name="alpha"))
    return folder


def test_ctrl_c_while_the_worker_starts_ends_lkx_dev(
    threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    """Ctrl-C in a terminal goes to the whole process group. Pressed while the first worker
    was still starting, it stopped lkx dev's own server at once; the worker retried that
    server for 23 s and lkx dev ended with "the worker could not start (exit 3)"."""
    env = {**dev_env(threaded_openai.base_url), "PYTHONUNBUFFERED": "1"}  # each line as printed
    run = DevRun(one_agent(tmp_path), tmp_path / "dev.log", env, "--no-playground")
    deadline = time.monotonic() + 40
    while not worker_child(run.process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "worker ready in" not in run.log.read_text()  # started, not yet registered
    os.killpg(run.process.pid, signal.SIGINT)
    code = run.process.wait(20)
    out = run.log.read_text()
    assert code == 0, out[-3000:]
    assert "could not start" not in out and "connection to the server lost" not in out, out
    assert "no worker is running" not in out  # a stop, not a failure
    assert "Traceback" not in out


async def test_ctrl_c_lets_a_conversation_on_lkx_devs_own_server_finish(
    threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    """Ctrl-C drains: the conversation goes on (its server too, which the terminal's SIGINT
    used to stop at once) until the user leaves; then lkx dev stops the server and ends."""
    from livekit import rtc

    from tests.worker.conftest import Participant

    run = DevRun(one_agent(tmp_path), tmp_path / "dev.log", dev_env(threaded_openai.base_url),
                 "--no-playground")  # fmt: skip
    room = rtc.Room()
    person = Participant(room)
    try:
        await connect_room(room, *run.token(), timeout=20)
        await person.wait_agent(30)
        assert await person.next_chat(30) == "I am alpha."
        os.killpg(run.process.pid, signal.SIGINT)
        await asyncio.to_thread(wait_output, run.log, "draining: conversations may finish")
        await person.say("are you still there?")
        assert await person.next_chat(20) == "You said: are you still there?"
    finally:
        await room.disconnect()
    code = run.process.wait(30)
    assert code == 0, run.log.read_text()[-3000:]
    assert "Traceback" not in run.log.read_text()
