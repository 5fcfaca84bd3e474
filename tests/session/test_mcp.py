"""Tools from MCP servers in a real session over the scripted server: a stdio server and a
streamable-HTTP one built with the official SDK, the reference mcp-server-git, and the faults
(a server that cannot start, dies mid-call, hangs, fails, or answers a megabyte)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.tools.mcp import close_servers
from tests.session.conftest import ask, openai_agent

pytest.importorskip("mcp")
SERVER = str(Path(__file__).resolve().parents[1] / "tools" / "mcp_test_server.py")
GIT_SERVER = str(Path(sys.executable).with_name("mcp-server-git"))


@pytest.fixture(autouse=True)
async def fresh_pool() -> AsyncIterator[None]:
    yield
    await close_servers()


def stdio(**extra: Any) -> dict[str, Any]:
    return {"name": "calc", "command": [sys.executable, SERVER], **extra}


def offered(server: ScriptedOpenAI) -> list[str]:
    return sorted(t["function"]["name"] for t in server.chat_requests[-1].get("tools") or [])


async def test_stdio_tools_are_offered_and_called(
    openai_server: ScriptedOpenAI, session_factory: Any
) -> None:
    agent = openai_agent(tools=["get_time"], mcp_servers=[stdio(deny=["crash"])])
    session, events = await session_factory(agent)
    await ask(session, 'call add {"a": 2, "b": 3}', timeout=30)
    assert offered(openai_server) == ["add", "fail", "get_time", "hang", "huge"]
    add = next(t for t in openai_server.chat_requests[0]["tools"] if t["function"]["name"] == "add")
    assert add["function"]["description"] == "Add two numbers."
    assert add["function"]["parameters"]["required"] == ["a", "b"]
    finished = events.of("tool_call_finished")[-1]
    assert finished.error is None and finished.output == "5"
    assert events.of("agent_reply")[-1].text == "The tool said: 5"
    await ask(session, 'call add {"a": "two", "b": 3}')
    assert "a: 'two' is not of type 'integer'" in (events.of("tool_call_finished")[-1].error or "")


async def test_allow_list(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    session, _ = await session_factory(openai_agent(mcp_servers=[stdio(allow=["add"])]))
    await ask(session, "hello", timeout=30)
    assert offered(openai_server) == ["add"]


async def test_faults_are_contained(openai_server: ScriptedOpenAI, session_factory: Any) -> None:
    agent = openai_agent(mcp_servers=[stdio(timeout=4)])
    session, events = await session_factory(agent)
    await ask(session, "call fail", timeout=30)
    # the SDK's server keeps the exception's text to itself; the error result comes back
    assert "Error executing tool fail" in (events.of("tool_call_finished")[-1].error or "")
    await ask(session, "call huge")
    output = events.of("tool_call_finished")[-1].output
    assert len(output) < 17_000 and output.endswith("[truncated 984000 characters]")
    await ask(session, "call hang")
    assert "timed out" in (events.of("tool_call_finished")[-1].error or "")
    await ask(session, "call crash")
    crashed = events.of("tool_call_finished")[-1].error or ""
    assert "crash" in crashed and ("timed out" in crashed or "MCP server 'calc'" in crashed)
    await ask(session, "still there?")
    assert events.of("agent_reply")[-1].text == "You said: still there?"
    # a new session starts the server again
    again, more = await session_factory(openai_agent(mcp_servers=[stdio(timeout=4)]))
    await ask(again, 'call add {"a": 1, "b": 1}', timeout=30)
    assert more.of("tool_call_finished")[-1].output == "2"


async def test_a_server_that_cannot_start_is_named(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    broken = {"name": "nowhere", "command": [str(tmp_path / "missing-binary")]}
    agent = openai_agent(tools=["get_time"], mcp_servers=[broken, stdio()])
    session, events = await session_factory(agent)
    errors = events.of("error")
    assert len(errors) == 1 and errors[0].message.startswith("MCP server 'nowhere': ")
    await ask(session, "hello", timeout=30)
    assert "add" in offered(openai_server) and "get_time" in offered(openai_server)
    assert events.of("agent_reply")[-1].text == "You said: hello"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER, "http", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if process.poll() is not None:
                    raise AssertionError("the MCP HTTP server exited") from None
                import time

                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


async def test_streamable_http(
    openai_server: ScriptedOpenAI,
    session_factory: Any,
    http_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LKX_TEST_MCP_TOKEN", "Bearer not-in-yaml")
    spec = {
        "name": "web",
        "url": http_server,
        "headers_env": {"Authorization": "LKX_TEST_MCP_TOKEN"},
    }
    session, events = await session_factory(openai_agent(mcp_servers=[spec]))
    await ask(session, 'call add {"a": 20, "b": 22}', timeout=30)
    assert events.of("tool_call_finished")[-1].output == "42"
    monkeypatch.delenv("LKX_TEST_MCP_TOKEN")
    await close_servers()
    _, failed = await session_factory(openai_agent(mcp_servers=[spec]))
    assert "LKX_TEST_MCP_TOKEN (for Authorization) is not set" in failed.of("error")[0].message


async def test_reference_git_server(
    openai_server: ScriptedOpenAI, session_factory: Any, tmp_path: Path
) -> None:
    if not Path(GIT_SERVER).exists():
        pytest.skip("mcp-server-git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"],
                 ["config", "user.name", "T"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=repo, check=True)
    (repo / "notes.txt").write_text("hello\n")
    subprocess.run(["git", "add", "notes.txt"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "first notes"], cwd=repo, check=True)
    spec = {"name": "git", "command": [GIT_SERVER, "--repository", str(repo)],
            "allow": ["git_status", "git_log"]}  # fmt: skip
    session, events = await session_factory(openai_agent(mcp_servers=[spec]))
    await ask(session, f'call git_log {{"repo_path": "{repo}"}}', timeout=30)
    assert offered(openai_server) == ["git_log", "git_status"]
    finished = events.of("tool_call_finished")[-1]
    assert finished.error is None and "first notes" in finished.output


def test_tools_list_by_source(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from livekitex_cli.cli import app

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "mcpdemo.yaml"
    path.write_text(
        "name: mcpdemo\ninstructions: Demo.\ntools: [get_time]\n"
        f"handoffs: [{{agent: {root}/agents/support-agent.yaml, description: Orders.}}]\n"
        "mcp_servers:\n"
        f"  - {{name: calc, command: [{sys.executable}, {SERVER}], allow: [add]}}\n"
        f"  - {{name: broken, command: [{tmp_path}/missing]}}\n"
    )
    result = CliRunner().invoke(app, ["tools", "list", "--agent", str(path), "--json"])
    assert result.exit_code == 5, result.output
    data = json.loads(result.stdout)
    sources = {t["name"]: t["source"] for t in data["tools"]}
    assert sources["get_time"].startswith("entry point lkx-example-agents")
    assert sources["transfer_to_support_agent"] == "handoff -> support-agent"
    assert sources["add"] == "mcp calc" and len(sources) == 3
    assert data["problems"][0].startswith("MCP server 'broken': FileNotFoundError")
