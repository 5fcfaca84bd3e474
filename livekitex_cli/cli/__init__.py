"""The ``lkx`` command line: a thin Typer layer over the package; the only place with typer/rich."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from livekitex_cli.cli import tools_cmd, validate_cmd
from livekitex_cli.errors import ExitCode

app = typer.Typer(
    name="lkx",
    help="Run LiveKit voice and text AI agents defined in YAML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(tools_cmd.app, name="tools")
app.command("validate")(validate_cmd.validate)


def package_version() -> str:
    try:
        return version("livekitex-cli")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "0+unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"lkx {package_version()}")
        raise typer.Exit()


@app.callback()
def root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run LiveKit voice and text AI agents defined in YAML."""


def main() -> None:
    """The console script: Typer's exit codes, and 130 on Ctrl-C without a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(int(ExitCode.INTERRUPTED))
