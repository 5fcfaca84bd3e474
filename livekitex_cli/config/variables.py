"""Per-call variables: ``variables:`` declares them (type, default, ``enum``, ``pattern``);
``{{name}}`` in ``instructions``, ``greeting``, ``on_enter`` and handoff descriptions is checked
at load (an unknown name is an error at its line) and filled per call from the first source
that has a value (dispatch metadata, participant attributes, ...) or the default.

A value that is missing or does not fit its declaration is a ``ValidationError`` naming the
variable: a call never starts with a half-filled prompt."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livekitex_cli.config.checks import regular_expression
from livekitex_cli.errors import ValidationError

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
TEMPLATED = ("instructions", "greeting", "on_enter")
_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "number": (int, float), "boolean": bool,
}  # fmt: skip


class VariableSpec(BaseModel):
    """One per-call variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["string", "integer", "number", "boolean"] = "string"
    default: str | int | float | bool | None = None
    enum: list[str | int | float | bool] | None = Field(default=None, min_length=1)
    pattern: str | None = None  # a regular expression the whole value must match (strings)
    description: str | None = None

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return regular_expression(value)

    @model_validator(mode="after")
    def _default_fits(self) -> VariableSpec:
        if self.default is not None:
            problem = self.problem(self.default)
            if problem:
                raise ValueError(f"default {self.default!r} {problem}")
        return self

    def problem(self, value: Any) -> str | None:
        """Why ``value`` (already converted) does not fit, or ``None``."""
        wanted = _TYPES[self.type]
        if isinstance(value, bool) and self.type != "boolean" or not isinstance(value, wanted):
            return f"is not a {self.type}"
        if self.enum is not None and value not in self.enum:
            return f"is not one of {', '.join(map(str, self.enum))}"
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            return f"does not match {self.pattern!r}"
        return None

    def convert(self, value: Any) -> Any:
        """Text from metadata or attributes into the declared type (as far as it goes)."""
        if not isinstance(value, str) or self.type == "string":
            return value
        text = value.strip()
        try:
            if self.type == "integer":
                return int(text)
            if self.type == "number":
                return float(text)
        except ValueError:
            return value
        if self.type == "boolean" and text.lower() in ("true", "false", "1", "0", "yes", "no"):
            return text.lower() in ("true", "1", "yes")
        return value


def placeholders(text: str | None) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(text or "")]


def unknown_placeholders(data: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """``(location, name)`` of every ``{{name}}`` that ``variables:`` does not declare."""
    declared = set((data.get("variables") or {}).keys())
    found: list[tuple[tuple[str | int, ...], str]] = []
    for field in TEMPLATED:
        value = data.get(field)
        if isinstance(value, str):
            found += [((field,), n) for n in placeholders(value) if n not in declared]
    for index, handoff in enumerate(data.get("handoffs") or []):
        text = handoff.get("description") if isinstance(handoff, dict) else None
        if isinstance(text, str):
            at = ("handoffs", index, "description")
            found += [(at, n) for n in placeholders(text) if n not in declared]
    return found


def resolve_values(
    declared: Mapping[str, VariableSpec], sources: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """Each declared variable's value from the first source that has it (``(label, values)``
    pairs, in order), else its default. ``ValidationError`` names the first bad or missing one,
    and where its value came from."""
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        origin = next(((label, found) for label, found in sources if name in found), None)
        if origin is None:
            if spec.default is None:
                where = ", ".join(label for label, _ in sources) or "no source"
                raise ValidationError(f"variables.{name}", f"missing (looked in: {where})")
            values[name] = spec.default
            continue
        label, found = origin
        value = spec.convert(found[name])
        problem = spec.problem(value)
        if problem:
            raise ValidationError(f"variables.{name}", f"{value!r} from {label} {problem}")
        values[name] = value
    return values


def fill(text: str, values: Mapping[str, Any]) -> str:
    """``{{name}}`` replaced by its value (booleans as true/false); others left alone."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        return str(value).lower() if isinstance(value, bool) else str(value)

    return PLACEHOLDER.sub(one, text)


def check_names(names: Sequence[str]) -> None:
    for name in names:
        if not re.match(NAME, name):
            raise ValueError(f"'{name}' is not a valid variable name (letters, digits, _)")
