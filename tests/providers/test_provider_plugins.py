"""Third-party providers through the ``livekitex.providers`` entry-point group, for real:
distributions written to a temporary folder and put on the path, as an installed package would
be. An agent file names the plugin's provider and a session talks through it; a plugin that
cannot load is one line naming it and why."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livekitex_cli import load_agents
from livekitex_cli.cli import app
from livekitex_cli.providers import plugin as plugin_module
from livekitex_cli.session import AgentSession
from livekitex_cli.testing.distributions import write_distribution

PARROT = '''
from collections.abc import AsyncIterator

from livekitex_cli.providers import (
    LLM, ChatDelta, ProviderFactory, ProviderOptions, ProviderPlugin,
)


class ParrotOptions(ProviderOptions):
    prefix: str = "parrot"


class ParrotLLM(LLM):
    """Says the user's last message back, in capitals."""

    provider_name = "parrot"

    def __init__(self, options: ParrotOptions) -> None:
        super().__init__(timeout=options.timeout, max_retries=options.max_retries)
        self.prefix = options.prefix

    async def _chat_impl(self, messages, tools, tool_choice) -> AsyncIterator[ChatDelta]:
        last = [m for m in messages if m["role"] == "user"][-1]["content"]
        yield ChatDelta(text=f"{self.prefix}: {last.upper()}")


plugin = ProviderPlugin(
    name="parrot", description="repeats you",
    llm=ProviderFactory(options=ParrotOptions, create=ParrotLLM),
)
'''
AGENT = "name: polly\ninstructions: Repeat.\nllm:\n  provider: {provider}\n  prefix: Polly\n"


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working provider plugin and one whose import fails, on ``sys.path``; the process-wide
    registry is found again from them (and restored afterwards)."""
    folder = tmp_path / "site"
    folder.mkdir()
    providers = "livekitex.providers"
    write_distribution(
        folder, name="acme-parrot", module="acme_parrot", source=PARROT,
        entry_points={providers: {"parrot": "acme_parrot:plugin"}},
    )  # fmt: skip
    write_distribution(
        folder, name="broken-voices", module="broken_voices",
        source="raise ImportError('missing dependency: frobnicate')\n",
        entry_points={providers: {"broken": "broken_voices:plugin"}},
    )  # fmt: skip
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(plugin_module, "_default", None)
    yield folder


async def test_a_plugin_provider_serves_a_session(plugins: Path, tmp_path: Path) -> None:
    path = tmp_path / "polly.yaml"
    path.write_text(AGENT.format(provider="parrot"))
    (agent,) = load_agents([str(path)])
    session = AgentSession(agent=agent, speak=False)
    try:
        result = await session.run(user_input="hello there")
    finally:
        await session.aclose()
    assert type(session.llm).__name__ == "ParrotLLM" and session.llm.service == "llm parrot"
    assert [reply.text for reply in result.replies] == ["Polly: HELLO THERE"]


def test_a_plugin_provider_in_a_fresh_process(plugins: Path, tmp_path: Path) -> None:
    path = tmp_path / "polly.yaml"
    path.write_text(AGENT.format(provider="parrot"))
    search = os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": search}
    done = subprocess.run(
        [sys.executable, "-m", "livekitex_cli", "console", str(path), "-m", "squawk"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Polly: SQUAWK" in done.stdout


@pytest.mark.fault("provider plugin that cannot load")
def test_a_broken_plugin_is_one_line_naming_it(plugins: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(AGENT.format(provider="broken"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith(f"error: {path}:4: llm.provider:"), lines[0]
    assert "'broken'" in lines[0] and "frobnicate" in lines[0], lines[0]
    # the other plugins are not hurt by it
    path.write_text(AGENT.format(provider="parrot"))
    assert CliRunner().invoke(app, ["validate", str(path)]).exit_code == 0
