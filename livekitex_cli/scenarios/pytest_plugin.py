"""A pytest plugin (entry point ``pytest11``): scenario files become test items, one per scenario,
so ``pytest`` runs them with the rest of a suite.

Collection is opt-in, so installing lkx changes no one's test run: ``*.test.yaml`` files are
collected when ``--lkx-scenarios`` is given (or ``lkx_scenarios = true`` in the pytest ini
settings), and always when a file is named on the command line. ``--lkx-judge`` is
``lkx test --judge``. This module imports nothing heavy until a scenario file is collected.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from livekitex_cli.scenarios.load import Plan
    from livekitex_cli.scenarios.runner import ScenarioOutcome

SUFFIXES = (".test.yaml", ".test.yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lkx", "lkx conversation scenarios")
    group.addoption(
        "--lkx-scenarios",
        action="store_true",
        default=None,
        help="collect lkx scenario files (*.test.yaml) as tests",
    )
    group.addoption(
        "--lkx-judge",
        default=None,
        metavar="PROVIDER[:MODEL]",
        help="the judge LLM for eval: criteria (wins over the files' judge:)",
    )
    parser.addini("lkx_scenarios", "collect lkx scenario files (*.test.yaml)", type="bool")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not file_path.name.endswith(SUFFIXES):
        return None
    config = parent.config
    wanted = config.getoption("lkx_scenarios") or config.getini("lkx_scenarios")
    named = any(_names(config, arg, file_path) for arg in config.args)
    if wanted or named:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _names(config: pytest.Config, arg: str, file_path: Path) -> bool:
    given = Path(arg.split("::", 1)[0])
    root = config.invocation_params.dir
    return (given if given.is_absolute() else root / given).resolve() == file_path.resolve()


class ScenarioFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        from livekitex_cli.scenarios.load import load_file

        return [
            ScenarioItem.from_parent(self, name=plan.name, plan=plan)
            for plan in load_file(self.path)
        ]

    def repr_failure(  # type: ignore[override]  # Node's has ``style``; Collector's does not
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> Any:
        from livekitex_cli.errors import LkxError

        error = excinfo.value
        if isinstance(error, LkxError):
            problems = getattr(error, "problems", None) or [error]
            return "\n".join(str(problem) for problem in problems)
        return super().repr_failure(excinfo)


class ScenarioFailed(Exception):
    def __init__(self, outcome: ScenarioOutcome) -> None:
        super().__init__(outcome.plan.id)
        self.outcome = outcome


class ScenarioItem(pytest.Item):
    def __init__(self, *, plan: Plan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    def runtest(self) -> None:
        from livekitex_cli.scenarios.judge import parse_judge
        from livekitex_cli.scenarios.suite import run_plans

        option = self.config.getoption("lkx_judge")
        judge = parse_judge(option) if option else None
        report = asyncio.run(run_plans([self.plan], jobs=1, judge=judge))
        outcome = report.outcomes[0]
        if not outcome.passed:
            raise ScenarioFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from livekitex_cli.errors import LkxError
        from livekitex_cli.scenarios.report import failure_text

        if isinstance(excinfo.value, ScenarioFailed):
            return failure_text(excinfo.value.outcome)
        if isinstance(excinfo.value, LkxError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        where = self.plan.where("name").rsplit(":", 1)
        line = int(where[1]) - 1 if len(where) == 2 and where[1].isdigit() else None
        return self.path, line, f"scenario: {self.plan.name}"
