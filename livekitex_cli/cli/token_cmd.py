"""``lkx token``: mint a join token for a test participant."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from livekitex_cli.cli.output import fail
from livekitex_cli.cli.start_cmd import KeyOption, SecretOption
from livekitex_cli.errors import LkxError


def token_command(
    room: Annotated[str, typer.Option("--room", help="Room to join.")],
    identity: Annotated[str, typer.Option("--identity", help="Participant identity.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    ttl_minutes: Annotated[int, typer.Option("--ttl", help="Minutes the token stays valid.")] = 360,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
) -> None:
    """Print a join token (publish, subscribe, data; no admin rights) for ROOM."""
    from datetime import timedelta

    from livekitex_cli.worker import mint_token

    try:
        token = mint_token(
            api_key=api_key or os.environ.get("LIVEKIT_API_KEY", ""),
            api_secret=api_secret or os.environ.get("LIVEKIT_API_SECRET", ""),
            room=room,
            identity=identity,
            name=name,
            ttl=timedelta(minutes=ttl_minutes),
        )
    except LkxError as exc:
        fail(exc)
    typer.echo(token)
