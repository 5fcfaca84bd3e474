"""``lkx schema``: the JSON Schema of agent files, for editors and CI linters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from livekitex_cli.cli.output import console


def schema_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of agent YAML files, with every installed provider's options.

    Point your editor at it: a first line `# yaml-language-server: $schema=agent.schema.json`
    (the YAML language server: VS Code, Neovim, JetBrains) checks and completes agent files.
    """
    from livekitex_cli.providers.json_schema import agent_schema

    text = json.dumps(agent_schema(), indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    console.print(f"wrote {output}")
