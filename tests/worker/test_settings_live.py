"""Worker settings that act as documented, against the real LiveKit server: the contract's
``WorkerOptions.entry_point`` runs each job, each job has its own copy of the agent, and
``--max-jobs`` caps the whole process; settings that cannot work are refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from livekitex_cli.cli import app
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker import WorkerOptions
from tests.livekit_server import KEY, SECRET, LiveKitServer, needs_server

SUPPORT = "agents/support-agent.yaml"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def entry_point_worker(
    livekit_server: LiveKitServer, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> Iterator[subprocess.Popen[str]]:
    """``tests/worker/entry_point_worker.py`` in its own process and process group."""
    env = {**os.environ, "OPENAI_BASE_URL": threaded_openai.base_url}
    env.update(LIVEKIT_URL=livekit_server.url, LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=SECRET)
    env.pop("OPENAI_API_KEY", None)
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.worker.entry_point_worker", SUPPORT],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    assert process.stdout is not None
    process.stdout.close()


async def read_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    async with asyncio.timeout(60):
        line = await asyncio.to_thread(process.stdout.readline)
    assert line, "the worker process ended"
    found: dict[str, Any] = json.loads(line)
    return found


@needs_server
@pytest.mark.livekit
async def test_entry_point_runs_and_each_job_has_its_own_agent(
    entry_point_worker: subprocess.Popen[str], join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    assert await read_line(entry_point_worker) == {"registered": True}
    pirate = await join("pirate-room", "support-agent", identity="pirate")
    await pirate.wait_agent()
    plain = await join("plain-room", "support-agent", identity="plain")
    await plain.wait_agent()
    lines = [await read_line(entry_point_worker), await read_line(entry_point_worker)]
    assert sorted(line["entered"] for line in lines) == ["pirate-room", "plain-room"]
    await pirate.next_chat()  # the greetings
    await plain.next_chat()
    await plain.say("hello from the plain room")
    assert await plain.next_chat() == "You said: hello from the plain room"
    await pirate.say("hello from the pirate room")
    assert await pirate.next_chat() == "You said: hello from the pirate room"
    systems = {
        request["messages"][-1]["content"]: request["messages"][0]["content"]
        for request in threaded_openai.chat_requests
    }
    assert systems["hello from the pirate room"] == "Talk like a pirate."
    assert "support desk" in systems["hello from the plain room"]
    # the served agent itself is untouched, also after the pirate room changed its copy
    assert all("support desk" in line["served"] for line in lines)


@needs_server
@pytest.mark.livekit
async def test_max_jobs_caps_the_whole_process(
    start_worker: Any, join: Any, tmp_path: Path
) -> None:
    second = tmp_path / "second.yaml"
    second.write_text(Path(SUPPORT).read_text().replace("name: support-agent", "name: second"))
    worker = start_worker(SUPPORT, str(second), "--max-jobs", "1")
    first = await join("room-one", "support-agent", identity="one")
    await first.wait_agent()
    _, state = await asyncio.to_thread(worker.health, "/worker")
    assert state["max_jobs"] == 1
    by_name = {agent["name"]: agent for agent in state["agents"]}
    # one job of the first agent fills the process: the second agent reports itself full too,
    # so LiveKit offers it nothing (a dispatch finds no free worker)
    assert by_name["second"]["full"] and by_name["second"]["load"] == 1.0
    assert not by_name["second"]["jobs"]
    _, ready = await asyncio.to_thread(worker.health, "/ready")
    assert (ready["active_jobs"], ready["max_jobs"]) == (1, 1)
    await first.leave()
    async with asyncio.timeout(30):  # LiveKit dispatches by the status it last heard: wait for it
        while True:
            _, state = await asyncio.to_thread(worker.health, "/worker")
            if all(agent["reported"].get("status") == "available" for agent in state["agents"]):
                break
            await asyncio.sleep(0.05)
    second_room = await join("room-two", "second", identity="two")
    await second_room.wait_agent()


def test_region_is_refused(tmp_path: Path) -> None:
    agent = tmp_path / "a.yaml"
    agent.write_text("name: a\ninstructions: Hi.\nworker: {region: eu-west}\n")
    result = CliRunner().invoke(app, ["validate", str(agent)])
    assert result.exit_code == 1
    assert "worker.region: is not supported" in result.stderr
    with pytest.raises(Exception, match="region is not supported"):
        WorkerOptions(server_url="ws://x", api_key="k", api_secret="s", region="eu").validate()


def test_process_settings_must_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    for name, port in (("a", 9101), ("b", 9102)):
        (tmp_path / f"{name}.yaml").write_text(
            f"name: {name}\ninstructions: Hi.\nllm: {{provider: openai}}\n"
            f"worker: {{health_check_port: {port}}}\n"
        )
    result = CliRunner().invoke(
        app, ["start", str(tmp_path), "--url", "ws://127.0.0.1:9", "--api-key", "k",
              "--api-secret", "s" * 40],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "worker.health_check_port: is one setting for the whole worker process" in result.stderr
    assert "a.yaml says 9101" in result.stderr and "b.yaml says 9102" in result.stderr


@needs_server
@pytest.mark.livekit
async def test_health_for_orchestrators(start_worker: Any) -> None:
    """--health-host 0.0.0.0 (containers): probes from outside reach it; /live is liveness
    (the loop answers), /ready readiness."""
    worker = start_worker(SUPPORT, "--health-host", "0.0.0.0")
    await worker.until("health on http://0.0.0.0:")
    status, _ = await asyncio.to_thread(worker.health, "/live")
    assert status == 200
    async with asyncio.timeout(30):  # ready once registered and the warm-up is done
        while (await asyncio.to_thread(worker.health, "/ready"))[0] != 200:
            await asyncio.sleep(0.05)
    _, ready = await asyncio.to_thread(worker.health, "/ready")
    assert ready["registered"] and ready["providers_loaded"] and not ready["draining"]
    with open("/proc/net/tcp") as table:  # the port is bound on every address, not loopback
        bound = {line.split()[1] for line in table.read().splitlines()[1:]}
    assert f"00000000:{worker.health_port:04X}" in bound


@needs_server
@pytest.mark.livekit
async def test_max_concurrent_jobs_are_all_offered(
    start_worker: Any, join: Any, tmp_path: Path
) -> None:
    """LiveKit offers no job to a worker whose reported load has reached the server's
    ``agents.target_load`` (0.7 by default) and never offers that job again: with the job
    count reported as the load, ``max_concurrent_jobs: 4`` ran 3 and the fourth room's user
    waited for an agent that never came."""
    agent = tmp_path / "four.yaml"
    agent.write_text(
        Path(SUPPORT).read_text().replace("max_concurrent_jobs: 50", "max_concurrent_jobs: 4")
    )
    worker = start_worker(str(agent))
    heard = 0.0
    for index in range(4):
        user = await join(f"four-{index}", "support-agent", identity=f"user-{index}")
        await user.wait_agent()
        async with asyncio.timeout(30):  # the next room only once the server heard the load
            while True:
                _, state = await asyncio.to_thread(worker.health, "/worker")
                if float(state["agents"][0]["reported"].get("load", 0.0)) > heard:
                    heard = float(state["agents"][0]["reported"]["load"])
                    break
                await asyncio.sleep(0.05)
    _, ready = await asyncio.to_thread(worker.health, "/ready")
    assert (ready["active_jobs"], ready["load"]) == (4, 1.0)
