"""Which agents ``lkx dev`` serves, read from their YAML alone: validating the schema needs no
tool and no provider, so the supervisor never imports agent code to know the names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from livekitex_cli.agent import agent_files
from livekitex_cli.config import parse_spec, read_document
from livekitex_cli.errors import ValidationError


@dataclass(frozen=True)
class ServedAgent:
    name: str
    voice: bool  # has STT and TTS: it listens to the microphone and speaks
    source: str


def served_agents(paths: Sequence[str | Path]) -> list[ServedAgent]:
    """The agents under ``paths`` whose files validate, in the order ``lkx start`` loads them.

    A file that does not validate is left out (the worker reports it); of two files with one
    name the first counts."""
    found: dict[str, ServedAgent] = {}
    for file in agent_files(paths):
        try:
            spec = parse_spec(read_document(file))
        except ValidationError:
            continue
        found.setdefault(spec.name, ServedAgent(spec.name, spec.is_voice, str(file)))
    return list(found.values())


def pick_agent(agents: Sequence[ServedAgent], name: str | None) -> ServedAgent | None:
    """``name`` among ``agents``, or the first one; ``None`` when there are none."""
    if name is None:
        return agents[0] if agents else None
    for agent in agents:
        if agent.name == name:
            return agent
    known = ", ".join(agent.name for agent in agents) or "none valid"
    raise ValidationError("agent", f"no agent named '{name}' is served (agents: {known})")
