"""``Agent``: a validated agent definition with its tools and provider options resolved.

The seed's ``create_agent`` / ``Agent.new`` / ``update_instructions`` / ``add_tool``, in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic

from livekitex_cli.config import AgentSpec, Document, parse_spec, pydantic_problems, read_document
from livekitex_cli.config.loader import dotted
from livekitex_cli.config.schema import MAX_INSTRUCTIONS
from livekitex_cli.errors import (
    InvalidConfigError,
    InvalidFileError,
    InvalidInstructionsError,
    UnknownToolError,
    ValidationError,
)
from livekitex_cli.providers import KINDS, ProviderOptions, ProviderRegistry, default_providers
from livekitex_cli.providers.preflight import ProviderProblem
from livekitex_cli.tools import FunctionTool, ToolRegistry, default_registry

YAML_SUFFIXES = (".yaml", ".yml")


class Agent:
    """An agent ready to run: its spec, its tools and its validated provider options."""

    def __init__(
        self,
        spec: AgentSpec,
        *,
        tools: ToolRegistry | None = None,
        providers: ProviderRegistry | None = None,
        agent_id: str | None = None,
        source: str | None = None,
        _options: dict[str, ProviderOptions] | None = None,
    ) -> None:
        self.spec = spec
        self.agent_id = agent_id or f"agent_{uuid.uuid4().hex[:12]}"
        self.source = source
        self.registry = tools if tools is not None else default_registry()
        self.providers = providers if providers is not None else default_providers()
        self.tools: list[FunctionTool] = [self._lookup(name) for name in spec.tools]
        self.provider_options = (
            _options if _options is not None else _validate_providers(spec, self.providers)
        )
        # handoff target by its ``handoffs[].agent`` text, filled by ``session.handoff``
        self.handoff_targets: dict[str, Agent] = {}

    def __repr__(self) -> str:
        return f"<Agent {self.name!r} tools={[t.name for t in self.tools]}>"

    @property
    def name(self) -> str:
        return self.spec.name

    def preflight(self) -> list[ProviderProblem]:
        """What would stop this agent's providers from working (missing keys, models,
        packages; unreachable servers), checked cheaply, without loading anything."""
        problems = []
        for kind in KINDS:
            config = getattr(self.spec, kind)
            if config is None and kind != "llm":
                continue  # not used, or a default that falls back by itself (VAD)
            provider = config.provider if config is not None else "auto"
            options = self.provider_options.get(kind) or self.providers.options(kind, provider, {})
            try:
                self.providers.check(kind, provider, options)
            except Exception as exc:  # noqa: BLE001 - a plugin's check may raise anything
                problems.append(
                    ProviderProblem(agent=self.name, kind=kind, provider=provider, error=exc)
                )
        detection = self.spec.turn.detection if self.spec.turn is not None else None
        if detection in ("model", "text"):
            from livekitex_cli.providers.local import check_turn_model

            try:
                check_turn_model(detection)
            except Exception as exc:  # noqa: BLE001 - reported like a provider's problem
                problem = ProviderProblem(
                    agent=self.name, kind="turn detection", provider=detection, error=exc
                )
                problems.append(problem)
        return problems

    @property
    def instructions(self) -> str:
        return self.spec.instructions

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        *,
        tools: ToolRegistry | None = None,
        providers: ProviderRegistry | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Agent:
        """Load and fully validate one agent file; ``InvalidFileError`` lists every problem."""
        doc = read_document(Path(path), env=env)
        spec = parse_spec(doc)
        registry = tools if tools is not None else default_registry()
        providers = providers if providers is not None else default_providers()
        problems: list[ValidationError] = []
        for index, name in enumerate(spec.tools):
            if name not in registry:
                problems.append(
                    _located(UnknownToolError(name, known=registry.names()), doc, ("tools", index))
                )
        options = _validate_providers(spec, providers, doc=doc, problems=problems)
        if problems:
            raise InvalidFileError(doc.path, problems)
        return cls(spec, tools=registry, providers=providers, source=doc.path, _options=options)

    def copy(self) -> Agent:
        """An independent agent with the same definition: what one changes with
        ``update_instructions`` or ``add_tool`` leaves the other alone. Each job of a worker
        runs on its own copy."""
        twin = Agent(
            self.spec,
            tools=self.registry,
            providers=self.providers,
            source=self.source,
            _options=dict(self.provider_options),
        )
        twin.tools = list(self.tools)
        twin.handoff_targets = dict(self.handoff_targets)
        return twin

    def update_instructions(self, instructions: str) -> None:
        """Replace the instructions (same limits as at creation)."""
        _check_instructions(instructions)
        self.spec = self.spec.model_copy(update={"instructions": instructions})

    def add_tool(self, name: str) -> None:
        """Offer one more registered tool to the LLM; ``UnknownToolError`` if there is none."""
        tool = self._lookup(name)
        if all(t.name != name for t in self.tools):
            self.tools.append(tool)
            self.spec = self.spec.model_copy(update={"tools": [*self.spec.tools, name]})

    def _lookup(self, name: str) -> FunctionTool:
        return self.registry.get(name)


def create_agent(
    *,
    instructions: str,
    name: str = "agent",
    tools: Sequence[str] = (),
    agent_id: str | None = None,
    greeting: str | None = None,
    llm_config: dict[str, Any] | None = None,
    stt_config: dict[str, Any] | None = None,
    tts_config: dict[str, Any] | None = None,
    vad_config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    registry: ToolRegistry | None = None,
    providers: ProviderRegistry | None = None,
    **settings: Any,
) -> Agent:
    """The contract's ``create_agent``: validate options and return an ``Agent``.

    Raises ``InvalidInstructionsError``, ``UnknownToolError`` or ``InvalidConfigError``.
    Other ``AgentSpec`` fields (``allow_interruptions``, ``max_tool_rounds``, ...) pass as keywords.
    """
    _check_instructions(instructions)
    raw = {
        "name": name,
        "instructions": instructions,
        "greeting": greeting,
        "tools": list(tools),
        "llm": llm_config,
        "stt": stt_config,
        "tts": tts_config,
        "vad": vad_config,
        "metadata": metadata or {},
        **settings,
    }
    try:
        spec = AgentSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        doc = Document("create_agent", raw)
        problem = pydantic_problems(exc, doc, AgentSpec)[0]
        if problem.field.split(".")[0] in KINDS:
            raise InvalidConfigError(problem.field, problem.reason) from None
        raise ValidationError(problem.field, problem.reason) from None
    return Agent(spec, tools=registry, providers=providers, agent_id=agent_id)


def load_agents(
    paths: Sequence[str | Path],
    *,
    tools: ToolRegistry | None = None,
    providers: ProviderRegistry | None = None,
) -> list[Agent]:
    """Every agent in ``paths`` (files, or folders of ``*.yaml``); all problems in one error."""
    agents: list[Agent] = []
    problems: list[ValidationError] = []
    for file in agent_files(paths):
        try:
            agents.append(Agent.from_yaml(file, tools=tools, providers=providers))
        except InvalidFileError as exc:
            problems.extend(exc.problems)
    seen: dict[str, str] = {}
    for agent in agents:
        if agent.name in seen:
            reason = (
                f"agent name '{agent.name}' is used by both {seen[agent.name]} and {agent.source}"
            )
            problems.append(ValidationError("name", reason, location=agent.source))
        seen[agent.name] = agent.source or agent.name
    if problems:
        raise InvalidFileError(str(paths[0]) if paths else "", problems)
    return agents


def agent_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand folders to their YAML files (sorted), leaving out ``lkx test`` scenario files
    (``*.test.yaml``); files are kept as given, even if missing."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
            files.extend(sorted(p for p in found if not p.stem.endswith(".test")))
        else:
            files.append(path)
    return files


def _check_instructions(instructions: object) -> None:
    if not isinstance(instructions, str) or not instructions.strip():
        raise InvalidInstructionsError("must be a non-empty string")
    if len(instructions) > MAX_INSTRUCTIONS:
        reason = f"is {len(instructions)} characters long, at most {MAX_INSTRUCTIONS} allowed"
        raise InvalidInstructionsError(reason)


def _located(error: ValidationError, doc: Document, loc: tuple[str | int, ...]) -> ValidationError:
    return ValidationError(dotted(loc), error.reason, location=doc.where(loc))


def _validate_providers(
    spec: AgentSpec,
    providers: ProviderRegistry,
    *,
    doc: Document | None = None,
    problems: list[ValidationError] | None = None,
) -> dict[str, ProviderOptions]:
    options: dict[str, ProviderOptions] = {}
    for kind in KINDS:
        config = getattr(spec, kind)
        if config is None:
            continue
        try:
            options[kind] = providers.options(kind, config.provider, config.options)
        except InvalidConfigError as exc:
            if problems is None or doc is None:
                raise
            problems.append(
                ValidationError(exc.field, exc.reason, location=doc.where((kind, "provider")))
            )
        except pydantic.ValidationError as exc:
            model = providers.factory(kind, config.provider).options
            found = pydantic_problems(exc, doc or Document("agent", {}), model, prefix=(kind,))
            if problems is None or doc is None:
                raise InvalidConfigError(found[0].field, found[0].reason) from None
            problems.extend(found)
    return options
