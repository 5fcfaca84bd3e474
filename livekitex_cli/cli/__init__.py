"""The ``lkx`` command line: a thin Typer layer over the package; the only place with typer/rich."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from livekitex_cli.cli import (
    connect_cmd,
    console_cmd,
    dev_cmd,
    dispatch_cmd,
    job_cmd,
    schema_cmd,
    start_cmd,
    test_cmd,
    token_cmd,
    tools_cmd,
    validate_cmd,
)
from livekitex_cli.errors import ExitCode


class LkxGroup(TyperGroup):
    """Typer's group, with the exit code of our table for a bad option value: 1 (invalid
    input), where Click says 2; a missing or unknown option or command stays 2 (usage)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as exc:
            if type(exc) is typer.BadParameter:  # not its MissingParameter subclass
                exc.exit_code = int(ExitCode.INVALID_INPUT)
            raise


app = typer.Typer(
    name="lkx",
    cls=LkxGroup,
    help="Run LiveKit voice and text AI agents defined in YAML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help renders in a third of the time
)
app.add_typer(tools_cmd.app, name="tools")
app.add_typer(dispatch_cmd.app, name="dispatch")
app.command("validate")(validate_cmd.validate)
app.command("console")(console_cmd.console_command)
app.command("start")(start_cmd.start_command)
app.command("dev")(dev_cmd.dev_command)
app.command("connect")(connect_cmd.connect_command)
app.command("token")(token_cmd.token_command)
app.command("schema")(schema_cmd.schema_command)
app.command("test")(test_cmd.test_command)
app.command("job-process", hidden=True)(job_cmd.job_process_command)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

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
    """The console script: the exit-code table, 130 on Ctrl-C, and never a traceback.

    An exception that escapes a command is a bug in lkx: it is reported on one line (set
    ``LKX_DEBUG=1`` for the traceback) with exit code 70.
    """
    try:
        code = app(standalone_mode=False)  # Click's standalone mode turns Ctrl-C into exit 1
    except (KeyboardInterrupt, typer.Abort):
        _interrupted()
    except typer.TyperException as exc:  # Click's usage and parameter errors
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        sys.exit(int(getattr(exc, "exit_code", ExitCode.USAGE)))
    except Exception as exc:
        if os.environ.get("LKX_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        with contextlib.suppress(OSError):  # stderr itself may be what failed
            sys.stderr.write(
                f"error: internal error: {type(exc).__name__}: {first} (LKX_DEBUG=1 shows more)\n"
            )
        sys.exit(int(ExitCode.INTERNAL))
    if code == ExitCode.INTERRUPTED:  # Typer turns Ctrl-C into Exit(130)
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)


def _interrupted() -> NoReturn:
    # every ``finally`` has run on the way here; leave without the interpreter's shutdown,
    # which would wait for (or crash on) a thread still blocked reading the terminal
    with contextlib.suppress(OSError):
        sys.stderr.write("interrupted\n")
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(int(ExitCode.INTERRUPTED))
