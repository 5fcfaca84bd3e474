"""A local model inside a worker job: ``lkx start`` serves a text agent whose LLM is the bundled
local model (llama.cpp, see providers/local/bundled.py), and it answers a typed message in a room
on the real LiveKit server, with no OpenAI-compatible server asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI
from tests.livekit_server import needs_server

pytest.importorskip("xllamacpp", reason="the local extra is not installed")

FALLBACK = "FALLBACK: the local model failed."
AGENT = f"""\
name: offline
instructions: You are a helpful assistant. Answer in one short sentence.
greeting: Hi, I run offline.
llm: {{provider: local, max_tokens: 32}}
fallback_line: "{FALLBACK}"
turn: {{stall_timeout: 120}}  # a first reply loads the model: no stall meanwhile
"""


@pytest.mark.livekit
@needs_server
@pytest.mark.slow
@pytest.mark.local_models
async def test_local_llm_answers_in_a_worker_job(
    start_worker: Any, join: Any, threaded_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    path = tmp_path / "offline.yaml"
    path.write_text(AGENT)
    worker = start_worker(str(path), ready=False)
    await worker.until('"msg": "worker registered"', timeout=180)  # after the preflight
    user = await join("offline-room", "offline")
    await user.wait_agent(timeout=120)
    assert await user.next_chat(timeout=60) == "Hi, I run offline."
    await user.say("What is the capital of France?")
    reply = await user.next_chat(timeout=300)  # a model load and a reply on a busy machine
    assert reply != FALLBACK and "paris" in reply.lower(), reply
    assert threaded_openai.chat_requests == []  # the model in the worker answered, nobody else
    _, state = await worker.get("/worker")
    assert [job["state"] for job in state["agents"][0]["jobs"]] == ["running"]
