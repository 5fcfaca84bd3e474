"""``provider: auto``: a session built from one agent file uses the local models when no OpenAI
key or server is set, and OpenAI when one is, told apart by the provider classes it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from livekitex_cli import load_agents
from livekitex_cli.session import AgentSession

pytest.importorskip("faster_whisper", reason="the local extra is not installed")
pytest.importorskip("piper_onnx", reason="the local extra is not installed")
pytest.importorskip("xllamacpp", reason="the local extra is not installed")

AGENT = """\
name: either
instructions: Be brief.
llm: {provider: auto, openai: {model: gpt-4o-mini}, local: {max_tokens: 64}}
stt: {provider: auto}
tts: {provider: auto}
"""
LOCAL = {"llm": "LlamaLLM", "stt": "WhisperSTT", "tts": "PiperTTS"}
OPENAI = {"llm": "OpenAILLM", "stt": "OpenAISTT", "tts": "OpenAITTS"}


async def built(path: Path) -> dict[str, str]:
    """The class of each provider a session of the agent at ``path`` uses (none is loaded:
    the local models load on first use)."""
    (agent,) = load_agents([str(path)])
    session = AgentSession(agent=agent)
    try:
        return {kind: type(getattr(session, kind)).__name__ for kind in ("llm", "stt", "tts")}
    finally:
        await session.aclose()


@pytest.mark.local_models
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, LOCAL),
        ({"OPENAI_API_KEY": "sk-test-0123456789abcdef"}, OPENAI),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, OPENAI),  # a compatible server of one's own
    ],
    ids=["nothing-set-local", "key-openai", "base-url-openai"],
)
async def test_auto_picks_local_without_openai_settings_and_openai_with(
    env: dict[str, str],
    expected: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "either.yaml"
    path.write_text(AGENT)
    assert await built(path) == expected
