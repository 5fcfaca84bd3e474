"""The pytest plugin, through a real pytest in a subprocess on a small project: scenario files are
test items only when asked (``--lkx-scenarios``, the ini setting, or a file named on the command
line); a failing scenario fails with its transcript; a bad file is one collection error."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.scenarios.conftest import AGENT, RuleServer

ROOT = Path(__file__).resolve().parents[2]
GOOD = "agent: ../agent.yaml\nscenarios:\n  - name: greets\n    turns: [{expect: [{event: response, text_contains: test agent}]}]\n  - name: echoes\n    turns: [{user: hi, expect: [{event: response, text_contains: 'You said: hi'}]}]\n"
BAD = "agent: ../agent.yaml\nscenarios:\n  - name: wrong\n    turns: [{user: hi, expect: [{event: response, text_contains: goodbye}]}]\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "agent.yaml").write_text(AGENT)
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "good.test.yaml").write_text(GOOD)
    (checks / "bad.test.yaml").write_text(BAD)
    (checks / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    return tmp_path


def pytest_run(project: Path, server: RuleServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "CI": ""}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_entry_point_is_declared() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {
        "lkx": "livekitex_cli.scenarios.pytest_plugin"
    }


def test_scenarios_collected_only_when_asked(project: Path, server: RuleServer) -> None:
    plain = pytest_run(project, server, "checks")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 passed" in plain.stdout and "yaml" not in plain.stdout
    asked = pytest_run(project, server, "checks", "--lkx-scenarios", "-rA")
    assert asked.returncode == 1, asked.stdout + asked.stderr
    assert "1 failed, 3 passed" in asked.stdout
    assert "PASSED checks/good.test.yaml::greets" in asked.stdout
    assert "PASSED checks/good.test.yaml::echoes" in asked.stdout
    assert "FAILED checks/bad.test.yaml::wrong" in asked.stdout
    assert "the response lacks 'goodbye': 'You said: hi'" in asked.stdout  # the transcript
    assert "turn 1: user: hi" in asked.stdout
    (project / "pytest.ini").write_text("[pytest]\nlkx_scenarios = true\n")
    by_ini = pytest_run(project, server, "checks")
    assert "1 failed, 3 passed" in by_ini.stdout, by_ini.stdout


def test_a_named_file_is_collected(project: Path, server: RuleServer) -> None:
    named = pytest_run(project, server, "checks/good.test.yaml")
    assert named.returncode == 0, named.stdout + named.stderr
    assert "2 passed" in named.stdout


def test_a_bad_file_is_one_collection_error(project: Path, server: RuleServer) -> None:
    (project / "checks/bad.test.yaml").write_text(BAD.replace("event: response", "event: respose"))
    result = pytest_run(project, server, "checks", "--lkx-scenarios")
    assert result.returncode != 0
    assert "1 error" in result.stdout
    assert (
        "bad.test.yaml:4: scenarios[0].turns[0].expect[0].event: unknown event 'respose' (did you mean 'response'?)"
        in result.stdout
    )
