"""Secrets stay secret, tokens carry the least grants, YAML cannot run code."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from livekit import api
from typer.testing import CliRunner

from livekitex_cli import Agent, ValidationError
from livekitex_cli.cli import app
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker import WorkerOptions, mint_token
from livekitex_cli.worker.protocol import worker_token
from tests.livekit_server import closed_port

SECRET = "super-secret-value-0123456789abcdefghijklmnop"


def test_worker_options_never_show_secrets() -> None:
    options = WorkerOptions.resolve(
        env={"LIVEKIT_URL": "ws://x", "LIVEKIT_API_KEY": "key-abc", "LIVEKIT_API_SECRET": SECRET},
        agent_name="a",
    )
    shown = repr(options) + str(options) + json.dumps(options.model_dump(mode="json"))
    assert SECRET not in shown
    with pytest.raises(ValidationError) as info:
        WorkerOptions.resolve(
            env={"LIVEKIT_API_SECRET": SECRET}, cli={"max_concurrent_jobs": 0}
        ).validate()
    assert SECRET not in str(info.value)


def test_yaml_cannot_construct_python_objects(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['touch pwned']\ninstructions: x\n")
    result = CliRunner().invoke(app, ["validate", str(evil)])
    assert result.exit_code == 1 and "invalid YAML" in result.stderr
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_env_secrets_do_not_leak_into_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LKX_SECRET_TEST", SECRET)
    path = tmp_path / "a.yaml"
    path.write_text(
        "name: a\ninstructions: x\nllm: {provider: openai, temperature: '${LKX_SECRET_TEST}'}\n"
    )
    with pytest.raises(ValidationError) as info:
        Agent.from_yaml(path)
    assert "llm.temperature" in str(info.value) and SECRET not in str(info.value)


def test_tokens_carry_the_least_grants() -> None:
    token = mint_token(api_key="k", api_secret=SECRET, room="r1", identity="alice")
    claims = api.TokenVerifier("k", SECRET).verify(token)
    video = claims.video
    assert video is not None and video.room == "r1" and video.room_join
    assert not (
        video.room_admin or video.room_create or video.room_list or video.room_record or video.agent
    )
    options = WorkerOptions.resolve(
        env={"LIVEKIT_URL": "ws://x", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": SECRET}
    )
    worker = api.TokenVerifier("k", SECRET).verify(worker_token(options))
    assert worker.video is not None and worker.video.agent
    assert not (worker.video.room_join or worker.video.room_admin or worker.identity)


def test_logs_carry_no_secret(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    threaded_openai: ScriptedOpenAI,  # the agent's LLM is reachable: only LiveKit is not
) -> None:
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    caplog.set_level(logging.DEBUG)
    with closed_port() as port:  # a fixed port (8081 once) fails the test when something has it
        result = CliRunner().invoke(
            app, ["start", "agents/support-agent.yaml", "--url", f"ws://127.0.0.1:{port}",
                  "--api-key", "k"],
        )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert SECRET not in result.output and SECRET not in caplog.text


def test_health_server_binds_loopback_by_default() -> None:
    options = WorkerOptions.resolve(env={})
    assert options.health_check_host == "127.0.0.1"
