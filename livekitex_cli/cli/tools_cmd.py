"""``lkx tools``: list, show and run the installed function tools."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from livekitex_cli.cli.output import console, fail, print_error, print_json
from livekitex_cli.errors import LkxError

app = typer.Typer(
    help="Function tools from the livekitex.tools entry points.", no_args_is_help=True
)


def _params(parameters: dict[str, Any]) -> str:
    required = set(parameters.get("required", []))
    parts = []
    for name, schema in parameters.get("properties", {}).items():
        kind = schema.get("type") or "/".join(
            str(s.get("type", "?")) for s in schema.get("anyOf", []) if s.get("type") != "null"
        )
        parts.append(f"{name}: {kind or 'object'}{'' if name in required else '?'}")
    return ", ".join(parts)


@app.command("list")
def list_tools(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    agent_file: Annotated[
        Path | None,
        typer.Option(
            "--agent", help="Only this agent's tools, by source (entry point, MCP, handoff)."
        ),
    ] = None,
) -> None:
    """List every installed tool, with the package that provides it."""
    from livekitex_cli.tools import default_registry

    if agent_file is not None:
        _agent_tools(agent_file, as_json)
        return

    registry = default_registry()
    tools = registry.all()
    if as_json:
        print_json(
            {
                "tools": [
                    {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                        "timeout": t.timeout,
                        "provider": t.origin,
                    }
                    for t in tools.values()
                ],
                "problems": [
                    {"name": p.name, "distribution": p.distribution, "reason": p.reason}
                    for p in registry.problems
                ],
            }
        )
    else:
        table = Table(title=f"{len(tools)} tools", title_justify="left")
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("description")
        table.add_column("parameters", style="green")
        table.add_column("provided by", style="dim")
        for tool in tools.values():
            summary = tool.description.splitlines()[0] if tool.description else ""
            table.add_row(tool.name, summary, _params(tool.parameters), tool.origin)
        console.print(table)
    for problem in registry.problems:
        print_error(str(problem))
    if registry.problems:
        raise typer.Exit(1)


def _agent_tools(agent_file: Path, as_json: bool) -> None:
    from livekitex_cli.agent import Agent
    from livekitex_cli.session.handoff import offered_tools, resolve_handoffs

    try:
        agent = Agent.from_yaml(agent_file)
        resolve_handoffs([agent])
        found, problems = asyncio.run(offered_tools(agent))
    except LkxError as exc:
        fail(exc)
    if as_json:
        rows = [{"name": t.name, "description": t.description, "source": source,
                 "parameters": t.parameters} for t, source in found]  # fmt: skip
        print_json({"agent": agent.name, "tools": rows, "problems": problems})
    else:
        table = Table(title=f"{agent.name}: {len(found)} tools", title_justify="left")
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("description")
        table.add_column("parameters", style="green")
        table.add_column("source", style="dim")
        for tool, source in found:
            summary = tool.description.splitlines()[0] if tool.description else ""
            table.add_row(tool.name, summary, _params(tool.parameters), source)
        console.print(table)
    for problem in problems:
        print_error(problem)
    if problems:
        raise typer.Exit(5)


@app.command("show")
def show_tool(name: Annotated[str, typer.Argument(help="The tool's name.")]) -> None:
    """Show one tool as the LLM sees it (OpenAI function-calling JSON)."""
    from livekitex_cli.tools import default_registry, to_openai_format

    try:
        tool = default_registry().get(name)
    except LkxError as exc:
        fail(exc)
    data = to_openai_format([tool])[0]
    data["timeout"] = tool.timeout
    data["provided_by"] = tool.origin
    print_json(data)


@app.command("run")
def run_tool(
    name: Annotated[str, typer.Argument(help="The tool's name.")],
    args: Annotated[str, typer.Option("--args", help="Arguments as a JSON object.")] = "{}",
) -> None:
    """Call a tool by hand, exactly as the LLM would, and print its result."""
    from livekitex_cli.tools import RunContext, default_registry, output_text, run_tool

    try:
        tool = default_registry().get(name)
        context = RunContext(user_data={"room": "cli"}, call_id="cli")
        result = asyncio.run(run_tool(tool, args, context))
        text = output_text(result)
    except LkxError as exc:
        fail(exc)
    try:
        print_json(json.loads(text))
    except ValueError:
        console.print(text, markup=False)
