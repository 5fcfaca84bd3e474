"""The agent definition: what an agent YAML file may contain, validated once at the edge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livekitex_cli.config.mcp import McpServerSpec
from livekitex_cli.config.turn import TurnSection, TurnSettings, conflicts, resolve
from livekitex_cli.config.variables import VariableSpec, check_names

MAX_INSTRUCTIONS = 10_000
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ProviderConfig(BaseModel):
    """``provider:`` plus that provider's own options, checked later by the provider itself."""

    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str = Field(min_length=1)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class WorkerSection(BaseModel):
    """Optional ``worker:`` defaults for ``lkx start``; CLI options and the environment win."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=10_000)
    worker_type: Literal["room", "publisher"] | None = None
    region: str | None = None
    drain_timeout: float | None = Field(default=None, gt=0, le=86_400)
    health_check_port: int | None = Field(default=None, ge=0, le=65_535)
    load_threshold: float | None = Field(default=None, gt=0, le=1)
    close_on_participant_leave: bool | None = None
    # the event loop watch (worker/loopwatch.py): lag that counts as blocked (0: off), and how
    # many blocked episodes within how many seconds end a job
    loop_lag_threshold: float | None = Field(default=None, ge=0, le=3_600)
    loop_block_limit: int | None = Field(default=None, ge=1, le=10_000)
    loop_block_window: float | None = Field(default=None, gt=0, le=86_400)
    # each job in a child process of its own (heavy or untrusted tools)
    isolation: Literal["none", "process"] | None = None

    @field_validator("region")
    @classmethod
    def _no_region(cls, value: str | None) -> str | None:
        if value:
            raise ValueError(
                "is not supported: LiveKit's agent protocol has no region; point LIVEKIT_URL "
                "at that region's server"
            )
        return value


class LastN(BaseModel):
    """Keep only the last ``last_n`` user turns (and what followed each) on a handoff."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    last_n: int = Field(ge=1, le=10_000)


HandoffContext = Literal["full", "summary"] | LastN


class HandoffSpec(BaseModel):
    """One agent this agent may transfer the conversation to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str = Field(min_length=1)  # a served agent's name, or a path relative to this file
    description: str = Field(min_length=1, max_length=1_000)  # when to transfer, for the LLM
    context: HandoffContext | None = None  # what history goes along; default handoff_context


class AgentSpec(BaseModel):
    """One agent definition, as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    instructions: str
    greeting: str | None = None
    tools: list[str] = Field(default_factory=list)
    llm: ProviderConfig | None = None
    stt: ProviderConfig | None = None
    tts: ProviderConfig | None = None
    vad: ProviderConfig | None = None
    allow_interruptions: bool = True
    min_endpointing_delay: float = Field(default=0.5, ge=0.0, le=10.0)
    max_tool_rounds: int = Field(default=3, ge=0, le=20)
    fallback_line: str = "Sorry, I ran into a problem. Could you say that again?"
    max_history_turns: int = Field(default=200, ge=2, le=100_000)
    metrics_window_turns: int = Field(default=500, ge=1, le=100_000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    worker: WorkerSection | None = None
    turn: TurnSection | None = None  # turn-taking (config/turn.py); None keeps the old ways
    handoffs: list[HandoffSpec] = Field(default_factory=list)
    handoff_context: HandoffContext = "full"
    on_enter: str | None = None  # said when a handoff brings the conversation here
    max_handoffs: int = Field(default=3, ge=1, le=20)  # transfers per user turn
    variables: dict[str, VariableSpec] = Field(default_factory=dict)  # per call: {{name}}
    mcp_servers: list[McpServerSpec] = Field(default_factory=list)  # tools from MCP servers

    @field_validator("instructions")
    @classmethod
    def _instructions_fit(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > MAX_INSTRUCTIONS:
            raise ValueError(f"is {len(value)} characters long, at most {MAX_INSTRUCTIONS} allowed")
        return value

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: dict[str, VariableSpec]) -> dict[str, VariableSpec]:
        check_names(list(value))
        return value

    @field_validator("tools")
    @classmethod
    def _tools_unique(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in value:
            if name in seen:
                raise ValueError(f"tool '{name}' is listed twice")
            seen.add(name)
        return value

    @model_validator(mode="after")
    def _turn_fields_once(self) -> AgentSpec:
        if (problem := conflicts(self)) is not None:
            raise ValueError(problem)
        return self

    @property
    def turn_settings(self) -> TurnSettings:
        """The resolved turn-taking numbers (preset, legacy fields, then ``turn:``)."""
        return resolve(self)

    @property
    def is_voice(self) -> bool:
        """Whether the agent speaks and listens (has both STT and TTS)."""
        return self.stt is not None and self.tts is not None
