"""How every command prints results and errors: Rich on stdout, one-line errors on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from livekitex_cli.errors import ExitCode, InvalidFileError, LkxError, PreflightError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def error_lines(error: LkxError) -> list[str]:
    """One line per problem: files list each of theirs."""
    if isinstance(error, InvalidFileError) and error.problems:
        return [str(problem) for problem in error.problems]
    if isinstance(error, PreflightError) and error.lines:
        return error.lines
    return [str(error)]


def notify(text: str) -> None:
    """A status line on stderr for a long-running command; a full disk or closed stderr must
    not stop the worker over a line nobody can read."""
    with contextlib.suppress(OSError):
        err_console.print(text, markup=True, highlight=False)


def print_error(line: str) -> None:
    """``error: LINE`` on stderr; ``line`` is plain text (brackets in it are printed as is)."""
    err_console.print(f"[bold red]error:[/] {_escape(line)}", markup=True, highlight=False)


def fail(error: LkxError) -> NoReturn:
    """Report ``error`` as one line per problem and exit with its code."""
    for line in error_lines(error):
        print_error(line)
    raise typer.Exit(int(error.exit_code))


def usage_error(message: str) -> NoReturn:
    print_error(message)
    raise typer.Exit(int(ExitCode.USAGE))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
