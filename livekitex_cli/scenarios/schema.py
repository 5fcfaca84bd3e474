"""What a scenario file (``*.test.yaml``) may contain: pydantic models, ``extra="forbid"``.

Top-level keys other than ``scenarios``, ``judge``, ``simulator`` and ``env`` are defaults that
every scenario may override. Expectations are one union, told apart by ``event``.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from livekitex_cli.config import Document, ProviderConfig
from livekitex_cli.config.checks import regular_expression
from livekitex_cli.config.loader import printable
from livekitex_cli.errors import ValidationError as LkxValidationError

AgentStateName = Literal["listening", "thinking", "speaking"]


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Texts = Annotated[list[str], BeforeValidator(_listed)]
Millis = Annotated[float, Field(gt=0, le=600_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseExpect(_Strict):
    """The next agent reply (not an interrupted one) and what it must say."""

    event: Literal["response"]
    text_contains: Texts = Field(default_factory=list)
    text_not_contains: Texts = Field(default_factory=list)
    text_matches: str | None = None
    eval: str | None = Field(default=None, min_length=1)
    within_ms: Millis | None = None

    @field_validator("text_matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return regular_expression(value)


class CallSpec(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] | None = None


class FunctionCallExpect(_Strict):
    """The tool calls made before the next reply: each of ``calls`` matches one of them (name,
    and arguments as a subset); ``count``: exactly that many calls."""

    event: Literal["function_call"]
    calls: list[CallSpec] = Field(default_factory=list)
    count: int | None = Field(default=None, ge=1, le=100)
    within_ms: Millis | None = None


class NoFunctionCallExpect(_Strict):
    """No tool call in the whole turn (only these tools, if ``names`` is given)."""

    event: Literal["no_function_call"]
    names: list[str] = Field(default_factory=list)


class InterruptedExpect(_Strict):
    """An agent reply in this turn was cut short by the user."""

    event: Literal["interrupted"]


class ErrorExpect(_Strict):
    """The session reported an error (a provider failed for good)."""

    event: Literal["error"]
    text_contains: Texts = Field(default_factory=list)


class StateExpect(_Strict):
    """The agent went through these states, in this order (others may come in between)."""

    event: Literal["state"]
    states: list[AgentStateName] = Field(min_length=1)


class HandoffExpect(_Strict):
    """The conversation was handed to another agent in this turn (to ``to``, if given)."""

    event: Literal["handoff"]
    to: str | None = Field(default=None, min_length=1)


Expectation = Annotated[
    ResponseExpect
    | FunctionCallExpect
    | NoFunctionCallExpect
    | InterruptedExpect
    | ErrorExpect
    | StateExpect
    | HandoffExpect,
    Field(discriminator="event"),
]
EXPECTATIONS: dict[str, type[_Strict]] = {
    "response": ResponseExpect,
    "function_call": FunctionCallExpect,
    "no_function_call": NoFunctionCallExpect,
    "interrupted": InterruptedExpect,
    "error": ErrorExpect,
    "state": StateExpect,
    "handoff": HandoffExpect,
}
TRIGGERS = ("thinking", "speaking", "function_call", "response")


class SendAfter(_Strict):
    """Send this turn's input once the previous turn reached ``event``, plus ``delay_ms``,
    without waiting for the agent to finish (to interrupt it)."""

    event: Literal["thinking", "speaking", "function_call", "response"]
    delay_ms: float = Field(default=0.0, ge=0, le=60_000)


class Turn(_Strict):
    user: str | None = Field(default=None, min_length=1)
    say: str | None = Field(default=None, min_length=1)  # the same as ``user``; reads well spoken
    send_after: SendAfter | None = None
    expect: list[Expectation] = Field(default_factory=list)

    @property
    def text(self) -> str | None:
        return self.user if self.user is not None else self.say


class MockSpec(_Strict):
    """A tool replaced for the test: it returns ``result`` or raises ``error``; the real one is
    never called."""

    result: Any = None
    error: str | None = Field(default=None, min_length=1)
    delay_ms: float = Field(default=0.0, ge=0, le=60_000)


class UserSpec(_Strict):
    """How user turns reach the agent: typed text, or speech synthesised by ``voice``
    (``local``: piper; ``agent``: the agent's own TTS) through the agent's VAD and STT."""

    modality: Literal["text", "audio"] = "text"
    voice: Literal["local", "agent"] = "local"


class _Defaults(_Strict):
    agent: str | None = Field(default=None, min_length=1)
    mocks: dict[str, MockSpec] = Field(default_factory=dict)
    user: UserSpec | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    repeat: int | None = Field(default=None, ge=1, le=1000)
    pass_rate: float | None = Field(default=None, gt=0, le=1)
    timeout: float | None = Field(default=None, gt=0, le=600)


class Scenario(_Defaults):
    """Scripted ``turns``, or a simulated caller: ``persona`` + ``goal`` + ``success``."""

    name: str = Field(min_length=1, max_length=200)
    turns: list[Turn] = Field(default_factory=list)
    persona: str | None = Field(default=None, min_length=1)
    goal: str | None = Field(default=None, min_length=1)
    success: str | None = Field(default=None, min_length=1)
    max_turns: int = Field(default=6, ge=1, le=50)


class ScenarioFile(_Defaults):
    judge: ProviderConfig | None = None
    simulator: ProviderConfig | None = None  # the LLM that plays callers; default: the judge
    env: dict[str, str] = Field(default_factory=dict)  # for ${VAR} in the agent files
    scenarios: list[Scenario] = Field(min_length=1)


# pydantic errors as ``file:line: field: reason`` -------------------------------------------


def file_problems(exc: ValidationError, doc: Document) -> list[LkxValidationError]:
    """One problem per pydantic error, located in ``doc``: the tag pydantic puts in the path of
    an expectation is dropped, unknown keys and events get a close match."""
    problems = []
    for err in exc.errors(include_url=False):
        loc, parent = _walk(tuple(err["loc"]))
        kind, ctx = err["type"], err.get("ctx") or {}
        if kind == "union_tag_invalid":
            tag = printable(str(ctx.get("tag", "")))
            reason = f"unknown event '{tag}'{_hint(tag, list(EXPECTATIONS))}; one of: {_NAMES}"
            problems.append(doc.problem((*loc, "event"), reason))
        elif kind == "union_tag_not_found":
            problems.append(doc.problem(loc, f"needs 'event:', one of: {_NAMES}"))
        elif kind == "extra_forbidden":
            key = printable(str(loc[-1]))
            problems.append(doc.problem(loc, f"unknown field '{key}'{_hint(key, parent)}"))
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(doc.problem(loc, message[:1].lower() + message[1:]))
    return problems


_NAMES = ", ".join(EXPECTATIONS)


def _hint(word: str, known: list[str]) -> str:
    close = get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _walk(raw: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], list[str]]:
    """``raw`` without union tags, and the fields known where its last part sits."""
    clean: list[str | int] = []
    current: Any = ScenarioFile
    known: list[str] = []
    for part in raw:
        models = [t for t in _flatten(current) if isinstance(t, type) and issubclass(t, BaseModel)]
        known = [name for model in models for name in model.model_fields]
        if isinstance(part, int):
            clean.append(part)
            continue
        owner = next((m for m in models if part in m.model_fields), None)
        if owner is not None:
            current = owner.model_fields[part].annotation
        elif part in EXPECTATIONS and EXPECTATIONS[part] in models:
            current = EXPECTATIONS[part]
            continue  # pydantic's tag, not a key of the file
        else:  # a key of a mapping (a mock's tool name): the values' type goes on
            current = next(
                (get_args(t)[1] for t in _flatten(current) if get_origin(t) is dict), Any
            )
        clean.append(part)
    return tuple(clean), known


def _flatten(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in get_args(annotation):
        found.extend(_flatten(arg))
    return found
