"""``lkx dev``: the worker with hot reload, a local LiveKit server if none is configured, a join
token that brings an agent, and the browser playground."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from livekitex_cli.cli.output import console, err_console, fail
from livekitex_cli.cli.start_cmd import KeyOption, SecretOption, UrlOption
from livekitex_cli.errors import LkxError

if TYPE_CHECKING:
    from livekitex_cli.worker.devserver import LocalServer

DEV_ROOM, DEV_IDENTITY = "dev-room", "dev-user"


def dev_command(
    paths: Annotated[list[Path], typer.Argument(help="Agent YAML files or folders.")],
    url: UrlOption = None,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
    watch: Annotated[
        list[Path] | None, typer.Option(help="Also watch this folder (repeatable).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="The worker's log level.")] = "info",
    agent: Annotated[
        str | None, typer.Option(help="The agent the printed token brings (default: the first).")
    ] = None,
    playground: Annotated[
        bool, typer.Option(help="Serve the browser playground on 127.0.0.1.")
    ] = True,
    playground_port: Annotated[
        int | None,
        typer.Option(help="The playground's port (0 = any free one; default 7870, or a free one)."),
    ] = None,
) -> None:
    """Run the worker and restart it on every change to agent YAML or Python files; serve the
    browser playground; with no LIVEKIT_URL, start a local LiveKit server."""
    from livekitex_cli.playground import pick_agent, served_agents

    server = None
    try:
        chosen = pick_agent(served_agents(paths), agent)
        if url:
            os.environ["LIVEKIT_URL"] = url
        if api_key:
            os.environ["LIVEKIT_API_KEY"] = api_key
        if api_secret:
            os.environ["LIVEKIT_API_SECRET"] = api_secret
        if not os.environ.get("LIVEKIT_URL"):
            server = _local_server()
        _print_token(chosen.name if chosen else None)
        folders = {str(p if p.is_dir() else p.parent) for p in paths} | {os.getcwd()}
        folders |= {str(p) for p in watch or []}
        asyncio.run(
            _serve(
                paths=[str(p) for p in paths],
                watch=sorted(folders),
                start_args=["--log-level", log_level],
                playground=playground,
                playground_port=playground_port,
            )
        )
    except LkxError as exc:
        fail(exc)
    finally:
        if server is not None:
            server.stop()


async def _serve(
    *,
    paths: Sequence[str],
    watch: Sequence[str],
    start_args: Sequence[str],
    playground: bool,
    playground_port: int | None,
) -> None:
    from livekitex_cli.playground import DEFAULT_PORT, LiveKitAccess, Playground
    from livekitex_cli.worker.reload import supervise

    worker: dict[str, int | None] = {"port": None}
    site = None
    if playground:
        access = LiveKitAccess(
            os.environ["LIVEKIT_URL"],
            os.environ.get("LIVEKIT_API_KEY", ""),
            os.environ.get("LIVEKIT_API_SECRET", ""),
        )
        port = DEFAULT_PORT if playground_port is None else playground_port
        site = Playground(
            paths=paths, livekit=access, port=port, worker_port=lambda: worker["port"]
        )
        page = await site.start(fallback=playground_port is None)
        console.print(f"[bold]playground[/] at {page}")
    try:
        await supervise(
            paths=paths,
            watch=watch,
            start_args=start_args,
            say=lambda text: err_console.print(f"[cyan]dev[/] {text}", highlight=False),
            on_worker=lambda port: worker.update(port=port),
        )
    finally:
        if site is not None:
            await site.aclose()


def _local_server() -> LocalServer:
    from livekitex_cli.worker.devserver import start_local_server

    server = start_local_server()
    os.environ.update(
        LIVEKIT_URL=server.url, LIVEKIT_API_KEY=server.api_key, LIVEKIT_API_SECRET=server.api_secret
    )
    console.print(f"[bold]local LiveKit server[/] at {server.url}")
    return server


def _print_token(agent: str | None) -> None:
    """A token for ``dev-room`` that dispatches ``agent`` when its join creates the room."""
    from livekitex_cli.worker import mint_token

    key, secret = os.environ.get("LIVEKIT_API_KEY", ""), os.environ.get("LIVEKIT_API_SECRET", "")
    if not key or not secret:
        return  # the worker will say what is missing
    token = mint_token(
        api_key=key, api_secret=secret, room=DEV_ROOM, identity=DEV_IDENTITY, dispatch=agent,
        dispatch_metadata='{"via": "lkx-dev"}' if agent else "",
    )  # fmt: skip
    comes = f"agent '{agent}' joins it" if agent else "no agent file validates yet: no agent joins"
    console.print(f"join room '{DEV_ROOM}' as '{DEV_IDENTITY}' ({comes}) with this token:\n{token}")
