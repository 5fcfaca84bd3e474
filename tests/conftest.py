"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from livekitex_cli.testing import ScriptedOpenAI


@pytest.fixture
def threaded_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedOpenAI]:
    """The scripted OpenAI-compatible server in its own thread, for tests that run their own
    loop (CLI runs, subprocesses). Sets ``OPENAI_BASE_URL``."""
    with ScriptedOpenAI.in_thread() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield server
