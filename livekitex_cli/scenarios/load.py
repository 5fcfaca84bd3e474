"""Scenario files in, runnable ``Plan``\\ s out: every problem of a file at once, each as
``file:line: field: reason`` (the agent files' own problems keep their own lines)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import pydantic

from livekitex_cli.agent import Agent
from livekitex_cli.config import Document, ProviderConfig, pydantic_problems, read_document
from livekitex_cli.config.variables import resolve_values
from livekitex_cli.errors import InvalidFileError, ValidationError
from livekitex_cli.providers import ProviderRegistry, default_providers
from livekitex_cli.scenarios.mocks import mocked_registry
from livekitex_cli.scenarios.schema import (
    CallSpec,
    FunctionCallExpect,
    MockSpec,
    NoFunctionCallExpect,
    ResponseExpect,
    Scenario,
    ScenarioFile,
    UserSpec,
    file_problems,
)
from livekitex_cli.session.handoff import reachable_tools, resolve_handoffs
from livekitex_cli.tools import ToolRegistry, default_registry

SUFFIXES = (".test.yaml", ".test.yml")
Loc = tuple[str | int, ...]


@dataclass
class Plan:
    """One scenario, ready to run: defaults applied, its agent loaded with its mocks."""

    file: str
    index: int
    scenario: Scenario
    doc: Document = field(repr=False)
    agent: Agent = field(repr=False)
    user: UserSpec
    variables: dict[str, Any]
    repeat: int
    pass_rate: float
    timeout: float
    judge: ProviderConfig | None = None
    simulator: ProviderConfig | None = None

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def audio(self) -> bool:
        return self.user.modality == "audio"

    @property
    def simulated(self) -> bool:
        return self.scenario.persona is not None

    @property
    def barges_in(self) -> bool:
        """Whether a turn is sent while the agent talks: spoken ones need real-time playout
        (the agent speaks for as long as its audio lasts) for the user to talk over it."""
        return any(turn.send_after is not None for turn in self.scenario.turns)

    @property
    def needs_judge(self) -> bool:
        return self.simulated or any(
            isinstance(e, ResponseExpect) and e.eval for t in self.scenario.turns for e in t.expect
        )

    def where(self, *loc: str | int) -> str:
        """``file:line`` of a part of this scenario."""
        return self.doc.where(("scenarios", self.index, *loc))


def find_files(paths: Sequence[str | Path]) -> list[Path]:
    """``*.test.yaml`` under folders (sorted); files are kept as given, even if missing."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.name.endswith(SUFFIXES) and p.is_file())
            )
        else:
            found.append(path)
    return found


def load_file(
    path: str | Path,
    *,
    tools: ToolRegistry | None = None,
    providers: ProviderRegistry | None = None,
) -> list[Plan]:
    """Every scenario of one file; ``InvalidFileError`` lists every problem."""
    doc = read_document(Path(path))
    try:
        spec = ScenarioFile.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise InvalidFileError(doc.path, file_problems(exc, doc)) from None
    return _Loader(doc, spec, tools or default_registry(), providers).plans()


class _Loader:
    def __init__(
        self,
        doc: Document,
        spec: ScenarioFile,
        tools: ToolRegistry,
        providers: ProviderRegistry | None,
    ) -> None:
        self.doc, self.spec, self.tools, self.providers = doc, spec, tools, providers
        self.problems: list[ValidationError] = []
        self.env = {**os.environ, **spec.env}
        self.agents: dict[str, Agent | None] = {}

    def plans(self) -> list[Plan]:
        for name in ("judge", "simulator"):
            self.check_llm(name, getattr(self.spec, name))
        plans: list[Plan] = []
        seen: set[str] = set()
        for index, scenario in enumerate(self.spec.scenarios):
            if scenario.name in seen:
                self.problem((index, "name"), f"'{scenario.name}' is used twice in this file")
            seen.add(scenario.name)
            plan = self.plan(index, scenario)
            if plan is not None:
                plans.append(plan)
        if self.problems:
            raise InvalidFileError(self.doc.path, self.problems)
        return plans

    def check_llm(self, name: str, config: ProviderConfig | None) -> None:
        """A ``judge:`` or ``simulator:`` section, checked like an agent's ``llm:``."""
        if config is None:
            return
        registry = self.providers or default_providers()
        try:
            registry.options("llm", config.provider, config.options)
        except ValidationError as exc:
            self.problem((name, "provider"), exc.reason)
        except pydantic.ValidationError as exc:
            model = registry.factory("llm", config.provider).options
            self.problems.extend(pydantic_problems(exc, self.doc, model, prefix=(name,)))

    def problem(self, loc: Loc, reason: str) -> None:
        full = ("scenarios", *loc) if loc and isinstance(loc[0], int) else loc
        self.problems.append(self.doc.problem(full, reason))

    def origin(self, index: int, name: str) -> Loc:
        """Where a defaulted field's value was written: the scenario, else the top level."""
        return (index, name) if name in self.spec.scenarios[index].model_fields_set else (name,)

    def plan(self, index: int, scenario: Scenario) -> Plan | None:
        top = self.spec
        mocks = {**top.mocks, **scenario.mocks}
        user = scenario.user or top.user or UserSpec()
        self.check_shape(index, scenario)
        agent = self.agent(index, scenario.agent or top.agent, mocks)
        if agent is None:
            return None
        scenario_variables = {**top.variables, **scenario.variables}
        offered = reachable_tools(agent)  # its own, and those of agents it hands off to
        for name in mocks:
            if name not in offered:
                where = (index, "mocks", name) if name in scenario.mocks else ("mocks", name)
                self.problem(where, _unknown_tool(name, offered))
        if user.modality == "audio" and agent.spec.stt is None:
            self.problem(self.origin(index, "user"), "modality audio needs an agent with stt:")
        if scenario.turns and scenario.turns[0].text is None and not agent.spec.greeting:
            reason = "the first turn has no user: and the agent has no greeting: nothing to expect"
            self.problem((index, "turns", 0), reason)
        self.check_tools(index, scenario, offered)
        try:  # the agent's per-call variables from the scenario's, as a call would get them
            resolve_values(agent.spec.variables, [("variables", scenario_variables)])
        except ValidationError as exc:
            self.problem(self.origin(index, "variables"), f"{exc.field}: {exc.reason}")
        return Plan(
            file=self.doc.path,
            index=index,
            scenario=scenario,
            doc=self.doc,
            agent=agent,
            user=user,
            variables=scenario_variables,
            repeat=scenario.repeat or top.repeat or 1,
            pass_rate=scenario.pass_rate or top.pass_rate or 1.0,
            timeout=scenario.timeout or top.timeout or 60.0,
            judge=top.judge,
            simulator=top.simulator,
        )

    def check_shape(self, index: int, scenario: Scenario) -> None:
        simulated = [scenario.persona, scenario.goal, scenario.success]
        if any(part is not None for part in simulated):
            for name, value in zip(("persona", "goal", "success"), simulated, strict=True):
                if value is None:
                    self.problem((index, "name"), f"a simulated caller needs {name}: too")
            if scenario.turns:
                self.problem((index, "turns"), "give turns: or a simulated caller, not both")
            return
        if not scenario.turns:
            reason = "needs turns: (or persona:, goal: and success: for a simulated caller)"
            self.problem((index, "name"), reason)
        for number, turn in enumerate(scenario.turns):
            at: Loc = (index, "turns", number)
            if turn.user is not None and turn.say is not None:
                self.problem((*at, "say"), "user: and say: are the same thing; give one")
            if turn.text is None and number > 0:
                self.problem(at, "needs user: (only the first turn may wait for the greeting)")
            if turn.send_after is not None and (number == 0 or turn.text is None):
                reason = "only a later turn with user: can be sent during the previous one"
                self.problem((*at, "send_after"), reason)

    def check_tools(self, index: int, scenario: Scenario, offered: list[str]) -> None:
        for number, turn in enumerate(scenario.turns):
            for position, expectation in enumerate(turn.expect):
                at: Loc = (index, "turns", number, "expect", position)
                calls: list[CallSpec] = []
                if isinstance(expectation, FunctionCallExpect):
                    calls = expectation.calls
                    for c, call in enumerate(calls):
                        if call.name not in offered:
                            self.problem(
                                (*at, "calls", c, "name"), _unknown_tool(call.name, offered)
                            )
                elif isinstance(expectation, NoFunctionCallExpect):
                    for n, name in enumerate(expectation.names):
                        if name not in offered:
                            self.problem((*at, "names", n), _unknown_tool(name, offered))

    def agent(self, index: int, raw: str | None, mocks: Mapping[str, MockSpec]) -> Agent | None:
        if raw is None:
            self.problem((index, "name"), "no agent: give agent: (a path) here or at the top")
            return None
        path = (Path(self.doc.path).parent / raw).resolve()
        key = json.dumps([str(path), {n: m.model_dump() for n, m in mocks.items()}], default=str)
        if key not in self.agents:
            self.agents[key] = self.load_agent(self.origin(index, "agent"), path, mocks)
        return self.agents[key]

    def load_agent(self, at: Loc, path: Path, mocks: Mapping[str, MockSpec]) -> Agent | None:
        if not path.is_file():
            self.problem(at, f"agent file not found: {path}")
            return None
        try:
            agent = Agent.from_yaml(path, tools=self.tools, providers=self.providers, env=self.env)
            known = {name: spec for name, spec in mocks.items() if name in self.tools}
            if known:
                agent = Agent(
                    agent.spec,
                    tools=mocked_registry(self.tools, known),
                    providers=agent.providers,
                    source=agent.source,
                    _options=dict(agent.provider_options),
                )
            resolve_handoffs([agent])  # targets share the (mocked) tools
        except InvalidFileError as exc:
            self.problem(at, f"agent file {path} is not valid")
            self.problems.extend(exc.problems)
            return None
        return agent


def _unknown_tool(name: str, offered: list[str]) -> str:
    close = get_close_matches(name, offered, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    tools = ", ".join(offered) or "none"
    return f"the agent offers no tool '{name}'{hint}; it has: {tools}"
