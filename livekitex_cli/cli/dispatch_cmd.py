"""``lkx dispatch``: bring an agent into a room (and list or remove dispatches) on a server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from livekitex_cli.cli.output import console, fail, print_json
from livekitex_cli.cli.start_cmd import KeyOption, SecretOption, UrlOption
from livekitex_cli.errors import LkxError

if TYPE_CHECKING:
    from livekitex_cli.worker.dispatch import Dispatch, Server

T = TypeVar("T")
app = typer.Typer(help="Dispatch agents to rooms (LiveKit's AgentDispatchService).")
RoomOption = Annotated[str, typer.Option("--room", help="The room's name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _server(url: str | None, api_key: str | None, api_secret: str | None) -> Server:
    from livekitex_cli.worker.dispatch import Server

    return Server(
        url=url or os.environ.get("LIVEKIT_URL", ""),
        api_key=api_key or os.environ.get("LIVEKIT_API_KEY", ""),
        api_secret=api_secret or os.environ.get("LIVEKIT_API_SECRET", ""),
    )


def _run(call: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(call)
    except LkxError as exc:
        fail(exc)


def _show(dispatches: list[Dispatch], as_json: bool) -> None:
    if as_json:
        print_json({"dispatches": [d.as_dict() for d in dispatches]})
        return
    table = Table("id", "agent", "room", "jobs", "metadata")
    for d in dispatches:
        table.add_row(d.id, d.agent_name, d.room, str(d.jobs), d.metadata)
    console.print(table)


@app.command("create")
def create(
    agent: Annotated[str, typer.Argument(help="The agent's name (its YAML `name:`).")],
    room: RoomOption,
    metadata: Annotated[
        str | None, typer.Option(help="Text (usually JSON) the agent's job receives.")
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
) -> None:
    """Send AGENT to ROOM: a worker serving that agent joins it (the room is created if needed)."""
    from livekitex_cli.worker.dispatch import create_dispatch

    server = _server(url, api_key, api_secret)
    made = _run(create_dispatch(server, agent_name=agent, room=room, metadata=metadata))
    if as_json:
        print_json(made.as_dict())
    else:
        console.print(f"dispatched '{made.agent_name}' to room '{made.room}' (id {made.id})")


@app.command("list")
def list_(
    room: RoomOption,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
) -> None:
    """The dispatches of ROOM."""
    from livekitex_cli.worker.dispatch import list_dispatches

    _show(_run(list_dispatches(_server(url, api_key, api_secret), room=room)), as_json)


@app.command("delete")
def delete(
    dispatch_id: Annotated[str, typer.Argument(help="The dispatch id (from create or list).")],
    room: RoomOption,
    url: UrlOption = None,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
) -> None:
    """Remove a dispatch from ROOM."""
    from livekitex_cli.worker.dispatch import delete_dispatch

    server = _server(url, api_key, api_secret)
    gone = _run(delete_dispatch(server, dispatch_id=dispatch_id, room=room))
    console.print(f"deleted dispatch {gone.id or dispatch_id} from room '{room}'")
