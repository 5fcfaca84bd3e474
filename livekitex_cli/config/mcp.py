"""``mcp_servers:``: MCP servers whose tools an agent offers beside its entry-point tools."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class McpServerSpec(BaseModel):
    """One MCP server: a stdio ``command`` or a streamable-HTTP ``url``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    command: list[str] | None = Field(default=None, min_length=1)  # argv of a stdio server
    env: dict[str, str] = Field(default_factory=dict)  # extra environment for a stdio server
    cwd: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://")  # a streamable-HTTP endpoint
    # HTTP header -> the name of the environment variable holding its value (never the value)
    headers_env: dict[str, str] = Field(default_factory=dict)
    allow: list[str] | None = None  # only these tools (default: all)
    deny: list[str] = Field(default_factory=list)  # never these
    timeout: float = Field(default=30.0, gt=0, le=300)  # per tool call, seconds
    startup_timeout: float = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of command (stdio) or url (streamable HTTP)")
        for variable in self.headers_env.values():
            if not re.match(ENV_NAME, variable):
                raise ValueError(f"headers_env: '{variable}' is not an environment variable name")
        return self

    def offers(self, tool: str) -> bool:
        return (self.allow is None or tool in self.allow) and tool not in self.deny
