"""``${VAR}`` and ``${VAR:-default}`` in YAML string values, read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PATTERN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariableError(Exception):
    """A ``${VAR}`` with no default whose variable is not set."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"environment variable '{name}' is not set and has no default")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Replace every ``${VAR}`` / ``${VAR:-default}`` in ``value``; ``$$`` is a literal ``$``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None and (found != "" or default is None):
            return found
        if default is not None:
            return default
        raise MissingVariableError(name)

    return _PATTERN.sub(substitute, value)
