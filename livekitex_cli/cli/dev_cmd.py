"""``lkx dev``: the worker with hot reload (and a local LiveKit server if none is configured)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from livekitex_cli.cli.output import console, err_console, fail
from livekitex_cli.cli.start_cmd import KeyOption, SecretOption, UrlOption
from livekitex_cli.errors import LkxError

if TYPE_CHECKING:
    from livekitex_cli.worker.devserver import LocalServer


def dev_command(
    paths: Annotated[list[Path], typer.Argument(help="Agent YAML files or folders.")],
    url: UrlOption = None,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
    watch: Annotated[
        list[Path] | None, typer.Option(help="Also watch this folder (repeatable).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="The worker's log level.")] = "info",
) -> None:
    """Run the worker and restart it on every change to agent YAML or Python files."""
    from livekitex_cli.worker.reload import supervise

    server = None
    try:
        if url:
            os.environ["LIVEKIT_URL"] = url
        if api_key:
            os.environ["LIVEKIT_API_KEY"] = api_key
        if api_secret:
            os.environ["LIVEKIT_API_SECRET"] = api_secret
        if not os.environ.get("LIVEKIT_URL"):
            server = _local_server()
        folders = {str(p if p.is_dir() else p.parent) for p in paths} | {os.getcwd()}
        folders |= {str(p) for p in watch or []}
        args = ["--log-level", log_level]
        asyncio.run(
            supervise(
                paths=[str(p) for p in paths],
                watch=sorted(folders),
                start_args=args,
                say=lambda text: err_console.print(f"[cyan]dev[/] {text}", highlight=False),
            )
        )
    except LkxError as exc:
        fail(exc)
    finally:
        if server is not None:
            server.stop()


def _local_server() -> LocalServer:
    from livekitex_cli.worker import mint_token
    from livekitex_cli.worker.devserver import start_local_server

    server = start_local_server()
    os.environ.update(
        LIVEKIT_URL=server.url, LIVEKIT_API_KEY=server.api_key, LIVEKIT_API_SECRET=server.api_secret
    )
    token = mint_token(
        api_key=server.api_key, api_secret=server.api_secret, room="dev-room", identity="dev-user"
    )
    console.print(f"[bold]local LiveKit server[/] at {server.url}")
    console.print(f"join room 'dev-room' as 'dev-user' with this token:\n{token}")
    return server
