"""``lkx test``: run conversation scenarios (``*.test.yaml``) against agents, in process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from livekitex_cli.cli.logs import LogFormat, LogLevel, LogLevelOption, setup_logging
from livekitex_cli.cli.output import (
    console,
    err_console,
    error_lines,
    fail,
    notify,
    print_error,
)
from livekitex_cli.errors import ExitCode, InvalidFileError, LkxError


def test_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Scenario files, or folders searched for *.test.yaml.")
    ],
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=256, help="Scenario runs at once.")
    ] = 4,
    pattern: Annotated[
        str | None,
        typer.Option(
            "-k", help="Only scenarios whose FILE::NAME contains this ('not X': without)."
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report.")] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write every run, event and check as JSON.")
    ] = None,
    record: Annotated[
        Path | None, typer.Option("--record", help="Write each run's transcript to this folder.")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="The judge LLM for eval: criteria, PROVIDER[:MODEL] (openai:gpt-4o-mini, "
            "local); wins over the files' judge:.",
        ),
    ] = None,
    log_level: LogLevelOption = LogLevel.error,
) -> None:
    """Run conversation tests. Exit 0 if all pass, 1 if any fails or a file is invalid,
    6 if a judge (or a local model) is unavailable."""
    from livekitex_cli.scenarios.judge import parse_judge
    from livekitex_cli.scenarios.suite import load_plans, run_plans

    setup_logging(log_level, LogFormat.auto)
    try:
        plans = load_plans(paths, pattern=pattern)
        judge_config = parse_judge(judge) if judge else None
    except InvalidFileError as exc:
        for line in error_lines(exc):
            print_error(line)
        raise typer.Exit(int(ExitCode.INVALID_INPUT)) from None
    except LkxError as exc:
        fail(exc)
    if not plans:
        print_error(f"no scenario matches -k {pattern!r}")
        raise typer.Exit(int(ExitCode.INVALID_INPUT))
    try:
        report = asyncio.run(_run(run_plans, plans, jobs, judge_config))
    except LkxError as exc:
        fail(exc)
    _render(report)
    from rich.markup import escape

    for note in report.notes:
        notify(f"[yellow]note:[/] {escape(note)}")
    _write(report, junit, json_file, record)
    if report.unavailable:
        for reason in report.unavailable:
            print_error(reason)
        raise typer.Exit(int(ExitCode.RESOURCE))
    if not report.passed:
        raise typer.Exit(int(ExitCode.INVALID_INPUT))


async def _run(run_plans: Any, plans: list[Any], jobs: int, judge: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task("scenarios", total=len(plans))

    def done(outcome: Any) -> None:
        mark = "[green]PASS[/]" if outcome.passed else "[red]FAIL[/]"
        runs = f" {outcome.passes}/{len(outcome.runs)}" if len(outcome.runs) > 1 else ""
        progress.console.print(
            f"{mark} {outcome.plan.id}{runs} [dim]({outcome.seconds:.2f} s)[/]", markup=True
        )
        progress.advance(task)

    with progress:
        return await run_plans(plans, jobs=jobs, judge=judge, on_done=done)


def _render(report: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from livekitex_cli.scenarios.report import failure_text

    for outcome in report.outcomes:
        if not outcome.passed:
            console.print()
            console.print(f"[bold red]FAILED[/] {escape(failure_text(outcome))}")
    table = Table(title="lkx test", title_justify="left")
    for column in ("scenario", "file", "result", "runs", "seconds"):
        table.add_column(column, justify="right" if column in ("runs", "seconds") else "left")
    for outcome in report.outcomes:
        result = "[green]pass[/]" if outcome.passed else "[red]fail[/]"
        runs = f"{outcome.passes}/{len(outcome.runs)}"
        table.add_row(
            escape(outcome.plan.name), escape(outcome.plan.file), result, runs,
            f"{outcome.seconds:.2f}",
        )  # fmt: skip
    console.print()
    console.print(table)
    failed = sum(not o.passed for o in report.outcomes)
    style = "red" if failed else "green"
    console.print(
        f"[{style}]{len(report.outcomes) - failed} passed, {failed} failed[/] "
        f"in {report.seconds:.2f} s"
    )


def _write(report: Any, junit: Path | None, json_file: Path | None, record: Path | None) -> None:
    from livekitex_cli.scenarios.report import junit_xml, to_json, write_records

    try:
        if junit is not None:
            junit.write_text(junit_xml(report.outcomes, report.seconds), encoding="utf-8")
        if json_file is not None:
            data = to_json(report.outcomes, report.seconds)
            json_file.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        if record is not None:
            written = write_records(report.outcomes, record)
            console.print(f"wrote {len(written)} record files to {record}", markup=False)
    except OSError as exc:
        print_error(f"cannot write {exc.filename}: {exc.strerror}")
        raise typer.Exit(int(ExitCode.INVALID_INPUT)) from None
