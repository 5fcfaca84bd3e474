"""``lkx dispatch`` against the real LiveKit server: create brings a worker's agent into the
room, list and delete see the server's state; bad names, refused keys and an unreachable server
get one line and their exit codes."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from livekit import api, rtc
from typer.testing import CliRunner, Result

from livekitex_cli.cli import app
from livekitex_cli.worker.joining import connect_room
from tests.livekit_server import KEY, SECRET, LiveKitServer, needs_server

pytestmark = [needs_server, pytest.mark.livekit]


def lkx(server: LiveKitServer | None, *args: str, secret: str = SECRET) -> Result:
    url = server.url if server else f"ws://127.0.0.1:{closed_port()}"
    auth = ["--url", url, "--api-key", KEY, "--api-secret", secret]
    result = CliRunner().invoke(app, ["dispatch", *args, *auth])
    assert "Traceback" not in result.output
    return result


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


async def test_create_brings_the_agent_then_list_and_delete(
    livekit_server: LiveKitServer, start_worker: Any
) -> None:
    start_worker("agents/support-agent.yaml")
    created = await asyncio.to_thread(
        lkx, livekit_server, "create", "support-agent", "--room", "desk", "--json",
        "--metadata", '{"customer": "Ada"}',
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    dispatch = json.loads(created.stdout)
    assert dispatch["agent_name"] == "support-agent" and dispatch["room"] == "desk"

    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity("caller")
        .with_grants(api.VideoGrants(room_join=True, room="desk"))
        .to_jwt()
    )
    room = rtc.Room()
    try:
        await connect_room(room, livekit_server.url, token, timeout=30)
        async with asyncio.timeout(30):
            while not any(
                "lk.agent.state" in p.attributes for p in room.remote_participants.values()
            ):
                await asyncio.sleep(0.05)
    finally:
        await room.disconnect()

    listed = await asyncio.to_thread(lkx, livekit_server, "list", "--room", "desk", "--json")
    assert listed.exit_code == 0, listed.stderr
    # the server keeps its own automatic dispatch (agent name "") beside ours
    by_id = {d["id"]: d for d in json.loads(listed.stdout)["dispatches"]}
    assert by_id[dispatch["id"]]["metadata"] == '{"customer": "Ada"}'

    deleted = await asyncio.to_thread(
        lkx, livekit_server, "delete", dispatch["id"], "--room", "desk"
    )
    assert deleted.exit_code == 0, deleted.stderr
    again = await asyncio.to_thread(lkx, livekit_server, "list", "--room", "desk", "--json")
    assert dispatch["id"] not in {d["id"] for d in json.loads(again.stdout)["dispatches"]}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["create", "bad name!", "--room", "r"], 1, "'bad name!' is not an agent name"),
        (["create", "helper", "--room", " "], 1, "room: must not be empty"),
        (["create", "helper", "--room", "r", "--metadata", "{oops"], 1, "metadata: invalid JSON"),
    ],
)
def test_bad_input_is_exit_1(args: list[str], code: int, message: str) -> None:
    result = lkx(None, *args)  # refused before any connection is tried
    assert result.exit_code == code
    assert message in result.stderr


def test_refused_key_is_exit_4(livekit_server: LiveKitServer) -> None:
    result = lkx(livekit_server, "list", "--room", "r", secret="x" * 48)
    assert result.exit_code == 4
    assert "refused the API key" in result.stderr
    assert "x" * 48 not in result.output


def test_unreachable_server_is_exit_3() -> None:
    result = lkx(None, "create", "helper", "--room", "r")
    assert result.exit_code == 3
    assert "cannot reach the LiveKit server" in result.stderr
