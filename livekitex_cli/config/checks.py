"""Small field checks shared by the YAML models (agent files, scenario files)."""

from __future__ import annotations

import re


def regular_expression(value: str | None) -> str | None:
    """``value`` compiles as a regular expression (a pydantic field validator's body)."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
    return value
