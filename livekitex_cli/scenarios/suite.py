"""The whole of ``lkx test`` below the CLI: find files, load and select scenarios, run them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from livekitex_cli.config import ProviderConfig
from livekitex_cli.errors import InvalidFileError, ValidationError
from livekitex_cli.providers import ProviderRegistry
from livekitex_cli.scenarios.load import Plan, find_files, load_file
from livekitex_cli.scenarios.runner import Runner, ScenarioOutcome
from livekitex_cli.tools import ToolRegistry


@dataclass
class Report:
    outcomes: list[ScenarioOutcome] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # for the user (a judge too weak to trust)

    @property
    def passed(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes)

    @property
    def unavailable(self) -> list[str]:
        """Why a judge or model could not be had, once per reason."""
        found = {run.unavailable for o in self.outcomes for run in o.runs if run.unavailable}
        return sorted(found)


def load_plans(
    paths: Sequence[str | Path],
    *,
    pattern: str | None = None,
    tools: ToolRegistry | None = None,
    providers: ProviderRegistry | None = None,
) -> list[Plan]:
    """The scenarios of every file under ``paths`` whose ``file::name`` contains ``pattern``
    (``-k``; case-insensitive; ``not X`` excludes). Every file's problems in one error."""
    files = find_files(paths)
    if not files:
        shown = ", ".join(map(str, paths))
        raise ValidationError("", f"no scenario files (*.test.yaml) under {shown}")
    plans: list[Plan] = []
    problems: list[ValidationError] = []
    for file in files:
        try:
            plans.extend(load_file(file, tools=tools, providers=providers))
        except InvalidFileError as exc:
            problems.extend(exc.problems or [exc])
    if problems:
        raise InvalidFileError(str(files[0]), problems)
    return [plan for plan in plans if selected(plan, pattern)]


def selected(plan: Plan, pattern: str | None) -> bool:
    if not pattern:
        return True
    text = plan.id.casefold()
    words = pattern.casefold().split()
    if len(words) == 2 and words[0] == "not":
        return words[1] not in text
    return pattern.casefold() in text


async def run_plans(
    plans: Sequence[Plan],
    *,
    jobs: int = 4,
    judge: ProviderConfig | None = None,
    providers: ProviderRegistry | None = None,
    on_done: Callable[[ScenarioOutcome], None] | None = None,
) -> Report:
    """Run ``plans``; ``JudgeUnavailable`` (exit code 6) before anything runs if one needs a
    judge that is missing or cannot work."""
    started = time.perf_counter()
    runner = Runner(jobs=jobs, providers=providers, judge=judge, on_done=on_done)
    outcomes = await runner.run(plans)
    return Report(outcomes, time.perf_counter() - started, runner.notes)
