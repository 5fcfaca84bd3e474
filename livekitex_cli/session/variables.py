"""Fill an agent's per-call variables (``variables:``, ``{{name}}``) before its session starts.

``fill_agent`` resolves every declared variable from the given sources (in order; then the
defaults) and writes the values into the agent's instructions, greeting, ``on_enter``, handoff
descriptions and tool descriptions. A missing or bad value raises ``ValidationError`` before
anything is changed, so a prompt is never half filled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from livekitex_cli.agent import Agent
from livekitex_cli.config.variables import fill, resolve_values

if TYPE_CHECKING:
    from livekitex_cli.session.session import AgentSession

Sources = Sequence[tuple[str, Mapping[str, Any]]]


def fill_agent(agent: Agent, sources: Sources) -> dict[str, Any]:
    """Resolve ``agent``'s variables from ``sources`` and fill them in, in place (use it on a
    per-call copy). Returns the values."""
    spec = agent.spec
    values = resolve_values(spec.variables, sources)
    if not values:
        return values
    update: dict[str, Any] = {"instructions": fill(spec.instructions, values)}
    for field in ("greeting", "on_enter"):
        text = getattr(spec, field)
        if text is not None:
            update[field] = fill(text, values)
    update["handoffs"] = [
        h.model_copy(update={"description": fill(h.description, values)}) for h in spec.handoffs
    ]
    agent.spec = spec.model_copy(update=update)
    agent.tools = [
        replace(tool, description=fill(tool.description, values)) for tool in agent.tools
    ]
    return values


def fill_session(session: AgentSession, sources: Sources) -> dict[str, Any]:
    """``fill_agent`` on a session's agent before it starts (its transfer tools follow); the
    sources are kept for agents a handoff brings in later."""
    values = fill_agent(session.agent, sources)
    session.handoffs.sources = [("this call", values), *sources]
    session.activity.extra_tools = session.handoffs.tools_for(session.agent)
    return values
