"""Fixtures shared by every test folder."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from livekitex_cli.testing import ScriptedOpenAI


@pytest.fixture
def threaded_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedOpenAI]:
    """A scripted OpenAI-compatible server on 127.0.0.1 in its own thread and event loop, for
    tests that run their own loop (CLI runs, subprocesses). Sets ``OPENAI_BASE_URL``."""
    server = ScriptedOpenAI()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="scripted-openai", daemon=True)
    thread.start()
    assert ready.wait(10), "the scripted OpenAI server did not start"
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
