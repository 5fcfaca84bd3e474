"""``lkx connect``: run one agent in one room directly, without dispatch."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from livekitex_cli.cli.logs import LogFormat, LogLevel, LogLevelOption, setup_logging
from livekitex_cli.cli.output import err_console, fail
from livekitex_cli.cli.start_cmd import KeyOption, SecretOption, UrlOption
from livekitex_cli.errors import LkxError, ValidationError


def connect_command(
    agent_file: Annotated[Path, typer.Argument(help="The agent's YAML file.")],
    room: Annotated[str, typer.Option("--room", help="Room to join.")],
    url: UrlOption = None,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
    log_level: LogLevelOption = LogLevel.info,
) -> None:
    """Join ROOM as the agent and talk to whoever is there, until the room closes or Ctrl-C."""
    setup_logging(log_level, LogFormat.auto)
    try:
        asyncio.run(_connect(agent_file, room, url, api_key, api_secret))
    except LkxError as exc:
        fail(exc)


async def _connect(
    agent_file: Path, room: str, url: str | None, key: str | None, secret: str | None
) -> None:
    from livekitex_cli.agent import Agent
    from livekitex_cli.session import AgentSession
    from livekitex_cli.session.handoff import resolve_handoffs
    from livekitex_cli.worker import connect_to_room, mint_token

    agent = Agent.from_yaml(agent_file)
    resolve_handoffs([agent])
    server = url or os.environ.get("LIVEKIT_URL", "")
    if not server:
        raise ValidationError("url", "is required (--url or LIVEKIT_URL)")
    token = mint_token(
        api_key=key or os.environ.get("LIVEKIT_API_KEY", ""),
        api_secret=secret or os.environ.get("LIVEKIT_API_SECRET", ""),
        room=room,
        identity=f"agent-{agent.name}",
        name=agent.name,
        agent=True,
    )
    session = AgentSession(agent=agent, room_id=room)
    io: Any = None
    try:
        io = await connect_to_room(session, server, token)
        await session.start()
        err_console.print(f"[green]joined[/] room {room!r} as {agent.name}; Ctrl-C to leave")
        await io.ended.wait()
    finally:
        await session.aclose()
        if io is not None:
            await io.close_room()
