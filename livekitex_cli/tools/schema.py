"""JSON schema and argument validation for a tool, built by pydantic from type hints."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

import pydantic

from livekitex_cli.errors import ValidationError

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[Any],
    "object": dict[str, Any],
}


class _Arguments(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


def docstring_parts(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The description (text before ``Args:``) and per-argument descriptions of a docstring."""
    doc = inspect.getdoc(fn) or ""
    parts = re.split(r"^(?:Args|Arguments|Parameters):\s*$", doc, maxsplit=1, flags=re.M)
    head = parts[0].strip()
    described: dict[str, str] = {}
    if len(parts) == 2:
        current = None
        for line in parts[1].splitlines():
            match = re.match(r"^\s{0,8}(\w+)\s*(?:\([^)]*\))?:\s*(.*)$", line)
            if match and not line.startswith(" " * 9):
                current = match.group(1)
                described[current] = match.group(2).strip()
            elif current and line.strip():
                described[current] = f"{described[current]} {line.strip()}".strip()
            elif not line.strip() and current:
                current = None
    return head, described


def model_from_signature(
    fn: Callable[..., Any], *, skip: set[str], described: dict[str, str]
) -> type[pydantic.BaseModel]:
    """A pydantic model of ``fn``'s parameters (minus ``skip``), for schema and validation."""
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (annotation, pydantic.Field(default, description=described.get(name)))
    model = pydantic.create_model(f"{fn.__name__}_arguments", __base__=_Arguments, **fields)
    return model


def model_from_parameter_list(
    name: str, parameters: list[dict[str, Any]]
) -> type[pydantic.BaseModel]:
    """A pydantic model from the contract's list form: ``[{name, type, description, required}]``."""
    fields: dict[str, Any] = {}
    for index, spec in enumerate(parameters):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValidationError(f"parameters[{index}]", "each parameter needs a 'name'")
        kind = spec.get("type", "string")
        if kind not in _JSON_TYPES:
            allowed = ", ".join(_JSON_TYPES)
            raise ValidationError(f"parameters[{index}].type", f"'{kind}' is not one of {allowed}")
        annotation = _JSON_TYPES[kind]
        if "enum" in spec:
            from typing import Literal

            annotation = Literal[tuple(spec["enum"])]
        required = spec.get("required", True)
        default = ... if required else spec.get("default")
        if not required:
            annotation = annotation | None
        fields[spec["name"]] = (
            annotation,
            pydantic.Field(default, description=spec.get("description")),
        )
    return pydantic.create_model(f"{name}_arguments", __base__=_Arguments, **fields)


def json_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with ``$ref``s inlined and titles dropped: plain function params."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = defs[node["$ref"].rsplit("/", 1)[-1]]
                merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
                return clean(merged)
            return {k: clean(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    cleaned = clean(raw)
    return {
        "type": "object",
        "properties": cleaned.get("properties", {}),
        "required": cleaned.get("required", []),
    }


def validate_arguments(
    tool_name: str, model: type[pydantic.BaseModel], arguments: dict[str, Any]
) -> dict[str, Any]:
    """Check ``arguments`` against the tool's model; the values to call it with."""
    try:
        parsed = model.model_validate(arguments)
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "arguments"
            where = where if where.isprintable() else repr(where)[1:-1]
            message = err["msg"][:1].lower() + err["msg"][1:]
            if err["type"] == "extra_forbidden":
                message = "is not a parameter of this tool"
            problems.append(f"{where}: {message}")
        raise ValidationError(
            "arguments", f"invalid arguments for '{tool_name}': " + "; ".join(problems)
        ) from None
    return {name: getattr(parsed, name) for name in type(parsed).model_fields}
