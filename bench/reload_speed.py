"""``lkx dev``: a tool file saved -> the new code answering in a room (typed chat, tool call)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from livekit import api

from bench.common import enter_room, stats
from livekitex_cli.testing import ScriptedOpenAI, ToolCalls
from livekitex_cli.testing.distributions import write_tool_distribution
from livekitex_cli.worker.devserver import LocalServer

PAUSE = 3.0  # seconds between saves
AGENT = "name: bench-reload\ninstructions: x\ntools: [bench_version]\nllm: {provider: openai, model: m}\n"
TOOL = 'from livekitex_cli.tools import function_tool\n\n@function_tool\ndef bench_version() -> str:\n    """Version."""\n    return "{version}"\n'


def write_plugin(folder: Path, version: str) -> None:
    write_tool_distribution(
        folder, name="bench-reload-tool", module="bench_reload_tool", source=TOOL.format(version=version),
        tools={"bench_version": "bench_reload_tool:bench_version"},
    )  # fmt: skip


async def ask_version(
    server: LocalServer, client: api.LiveKitAPI, openai: ScriptedOpenAI, room: str
) -> str:
    person = await enter_room(server, client, room, "bench-reload")
    replies: asyncio.Queue[str] = asyncio.Queue()

    def on_chat(reader: Any, sender: str) -> None:
        async def read() -> None:
            replies.put_nowait(await reader.read_all())

        asyncio.ensure_future(read())

    person.room.register_text_stream_handler("lk.chat", on_chat)
    try:
        async with asyncio.timeout(20):
            while not person.agent_here():
                await asyncio.sleep(0.02)
            openai.push(ToolCalls([("bench_version", "{}")]))
            await person.room.local_participant.send_text("version?", topic="lk.chat")
            return await replies.get()
    finally:
        await person.room.disconnect()


async def run(server: LocalServer, openai: ScriptedOpenAI, repeats: int = 3) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="lkx-bench-reload-"))
    plugin = folder / "plugin"
    plugin.mkdir()
    write_plugin(plugin, "v0")
    (folder / "agent.yaml").write_text(AGENT)
    env = {**os.environ, "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": server.api_key,
           "LIVEKIT_API_SECRET": server.api_secret, "OPENAI_BASE_URL": openai.base_url,
           "PYTHONPATH": str(plugin)}  # fmt: skip
    log = (folder / "dev.log").open("wb")
    dev = subprocess.Popen(
        [sys.executable, "-m", "livekitex_cli", "dev", str(folder / "agent.yaml"), "--watch", str(plugin)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )  # fmt: skip
    client = api.LiveKitAPI(
        server.url.replace("ws://", "http://"), server.api_key, server.api_secret
    )
    times: list[float] = []
    rooms: list[int] = []  # rooms tried until one answered with the new code
    try:
        deadline = time.monotonic() + 30
        while "worker ready" not in (folder / "dev.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("lkx dev did not start")
            await asyncio.sleep(0.05)
        for attempt in range(1, repeats + 1):
            await asyncio.sleep(PAUSE)  # edits come at a human pace: lkx dev's spare is ready
            saved = time.perf_counter()
            write_plugin(plugin, f"v{attempt}")
            tries = 0
            while True:
                tries += 1
                answer = await ask_version(
                    server, client, openai, f"reload-{attempt}-{time.monotonic_ns()}"
                )
                if answer.endswith(f"v{attempt}"):
                    break
            times.append(time.perf_counter() - saved)
            rooms.append(tries)
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(60)
        await client.aclose()
    text = (folder / "dev.log").read_text(errors="replace")
    reloads = [float(seconds) for seconds in re.findall(r"reloaded in ([0-9.]+) s", text)]
    return {
        "save_to_new_code_s": stats(times),
        "supervisor_reload_s": stats(reloads),
        "rooms_tried": rooms,
    }
