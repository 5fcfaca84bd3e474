"""Agent definitions: YAML in, a validated ``AgentSpec`` out."""

from livekitex_cli.config.loader import (
    Document,
    load_spec,
    parse_spec,
    pydantic_problems,
    read_document,
)
from livekitex_cli.config.schema import MAX_INSTRUCTIONS, AgentSpec, ProviderConfig, WorkerSection

__all__ = [
    "MAX_INSTRUCTIONS",
    "AgentSpec",
    "Document",
    "ProviderConfig",
    "WorkerSection",
    "load_spec",
    "parse_spec",
    "pydantic_problems",
    "read_document",
]
