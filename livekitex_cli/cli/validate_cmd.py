"""``lkx validate``: check agent files and report every problem of every file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from livekitex_cli.cli.output import console, error_lines, print_error
from livekitex_cli.errors import ExitCode, InvalidFileError, LkxError

if TYPE_CHECKING:
    from livekitex_cli.agent import Agent


def validate(
    paths: Annotated[list[Path], typer.Argument(help="Agent YAML files or folders of them.")],
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Also run the preflight of lkx start: keys, models, packages, reachable servers.",
        ),
    ] = False,
) -> None:
    """Validate agent definitions: schema, tools, provider options. Exit 1 if any is invalid
    (with --check, the exit code of the first provider that cannot work)."""
    from livekitex_cli.agent import Agent, agent_files
    from livekitex_cli.providers.preflight import preflight_error
    from livekitex_cli.session.handoff import resolve_handoffs

    files = agent_files(paths)
    if not files:
        print_error(f"no agent files (*.yaml, *.yml) under {', '.join(map(str, paths))}")
        raise typer.Exit(int(ExitCode.INVALID_INPUT))
    failed = 0
    refused: list[LkxError] = []
    for file in files:
        try:
            agent = Agent.from_yaml(file)
            resolve_handoffs([agent])
        except InvalidFileError as exc:
            failed += 1
            for line in error_lines(exc):
                print_error(line)
            continue
        except LkxError as exc:
            failed += 1
            print_error(f"{file}: {exc}")
            continue
        problems = agent.preflight() if check else []
        if problems:
            refused.append(error := preflight_error(problems))
            for line in error.lines:
                print_error(f"{file}: {line}")
            continue
        kind = "voice" if agent.spec.is_voice else "text"
        if agent.spec.is_voice:
            kind += f", {_turns(agent)}"
        tools = ", ".join(t.name for t in agent.tools) or "no tools"
        console.print(f"[green]ok[/] {file}: {agent.name} ({kind}; {tools})")
    if failed or refused:
        console.print(f"{failed + len(refused)} of {len(files)} files invalid or not ready")
        code = ExitCode.INVALID_INPUT if failed else refused[0].exit_code
        raise typer.Exit(int(code))


def _turns(agent: Agent) -> str:
    """How the agent's spoken turns end: ``balanced turns by text`` (``auto`` resolved)."""
    from livekitex_cli.session.endpointing import text_detection_possible

    language = getattr(agent.provider_options.get("stt"), "language", None)
    turn = agent.spec.turn_settings.detected_by(text_possible=text_detection_possible(language))
    return f"{turn.preset} turns by {turn.detection}"
