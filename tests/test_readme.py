"""Every Python example in the README runs as written: complete programs (those that call
``asyncio.run``) run in a subprocess against the scripted OpenAI-compatible server, and every
other block at least compiles."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from livekitex_cli.testing import ScriptedOpenAI, ToolCalls

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 2
    assert any("asyncio.run(" in block for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_example_compiles(block: str) -> None:
    compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if "asyncio.run(" in b], ids=lambda b: b.split("\n")[0][:30]
)
def test_program_runs(block: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block)
    with ScriptedOpenAI.in_thread() as server:
        server.push(ToolCalls([("get_weather", '{"city": "Paris"}')]))
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url}
        env.pop("OPENAI_API_KEY", None)
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120,
            cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "tool: get_weather" in done.stdout
    assert "agent: " in done.stdout and "1 message(s)" in done.stdout
