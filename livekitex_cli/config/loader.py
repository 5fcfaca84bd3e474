"""Read an agent YAML file into an ``AgentSpec``, reporting every problem with its line."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, get_args, get_origin

import pydantic
import yaml

from livekitex_cli.config.env import MissingVariableError, interpolate
from livekitex_cli.config.schema import AgentSpec
from livekitex_cli.config.variables import unknown_placeholders
from livekitex_cli.errors import InvalidFileError, ValidationError

Loc = tuple[str | int, ...]


@dataclass
class Document:
    """A parsed YAML file: its data and the line of every key and item in it."""

    path: str
    data: dict[str, Any]
    lines: dict[Loc, int] = field(default_factory=dict)

    def where(self, loc: Loc) -> str:
        """``path:line`` of the deepest known part of ``loc``."""
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(loc[:cut])
            if line is not None:
                return f"{self.path}:{line}"
        return self.path

    def problem(self, loc: Loc, reason: str) -> ValidationError:
        return ValidationError(dotted(loc), reason, location=self.where(loc))


def dotted(loc: Loc) -> str:
    """``llm.temperature``, ``tools[2]``; odd keys are escaped so a message stays one line."""
    return ".".join(
        f"[{part}]" if isinstance(part, int) else printable(part) for part in loc
    ).replace(".[", "[")


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``), for one-line messages."""
    return text if text.isprintable() else repr(text)[1:-1]


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def read_document(path: Path, *, env: Mapping[str, str] | None = None) -> Document:
    """Parse ``path`` with the safe loader and interpolate ``${VAR}`` in its strings."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidFileError(
            shown, [ValidationError("", "file not found", location=shown)]
        ) from None
    except IsADirectoryError:
        raise InvalidFileError(
            shown, [ValidationError("", "is a folder", location=shown)]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"cannot read: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}"
        raise InvalidFileError(shown, [ValidationError("", reason, location=shown)]) from None
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        reason = f"invalid YAML: {exc.problem or exc.context or 'cannot parse'}"
        raise InvalidFileError(shown, [ValidationError("", reason, location=at)]) from None
    except yaml.reader.ReaderError as exc:
        at = f"{shown}:{_line_of(text, exc.position)}"
        reason = f"invalid YAML: {exc.reason} (character {exc.character!r})"
        raise InvalidFileError(shown, [ValidationError("", reason, location=at)]) from None
    except (yaml.YAMLError, RecursionError) as exc:
        reason = f"invalid YAML: {type(exc).__name__}"
        raise InvalidFileError(shown, [ValidationError("", reason, location=shown)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        reason = f"the top level must be a mapping of fields, not {kind}"
        raise InvalidFileError(shown, [ValidationError("", reason, location=f"{shown}:1")])
    doc = Document(shown, {}, {})
    if node is not None:
        _record_lines(node, (), doc.lines)
    problems: list[ValidationError] = []
    doc.data = _interpolate_tree(data, (), os.environ if env is None else env, doc, problems)
    if problems:
        raise InvalidFileError(shown, problems)
    return doc


def parse_spec(doc: Document) -> AgentSpec:
    """Validate a document against ``AgentSpec``; every problem at once, with close matches."""
    try:
        spec = AgentSpec.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise InvalidFileError(doc.path, pydantic_problems(exc, doc, AgentSpec)) from None
    unknown = [
        doc.problem(loc, f"unknown variable '{{{{{name}}}}}' (declare it under variables:)")
        for loc, name in unknown_placeholders(doc.data)
    ]
    if unknown:
        raise InvalidFileError(doc.path, unknown)
    return spec


def load_spec(path: Path, *, env: Mapping[str, str] | None = None) -> AgentSpec:
    return parse_spec(read_document(path, env=env))


def pydantic_problems(
    exc: pydantic.ValidationError,
    doc: Document,
    model: type[pydantic.BaseModel],
    prefix: Loc = (),
) -> list[ValidationError]:
    """One ``ValidationError`` per pydantic error, located in ``doc`` under ``prefix``."""
    problems = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        full = prefix + loc
        if err["type"] == "extra_forbidden":
            key = printable(str(loc[-1]))
            known = _fields_at(model, loc[:-1])
            close = get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            reason = f"unknown field '{key}'{hint}"
            problems.append(ValidationError(dotted(full), reason, location=doc.where(full)))
            continue
        message = str(err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problems.append(doc.problem(full, message[:1].lower() + message[1:]))
    return problems


def _fields_at(model: type[pydantic.BaseModel], loc: Loc) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part) if _is_model(current) else None
        if info is None:
            return []
        current = next((t for t in _flatten(info.annotation) if _is_model(t)), None)
        if current is None:
            return []
    return list(current.model_fields) if _is_model(current) else []


def _flatten(annotation: Any) -> Iterator[Any]:
    yield annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            yield from _flatten(arg)


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def _record_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, loc + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, loc + (index,), lines)


def _interpolate_tree(
    value: Any,
    loc: Loc,
    env: Mapping[str, str],
    doc: Document,
    problems: list[ValidationError],
) -> Any:
    if isinstance(value, str):
        try:
            return interpolate(value, env)
        except MissingVariableError as exc:
            problems.append(doc.problem(loc, str(exc)))
            return value
    if isinstance(value, dict):
        return {
            key: _interpolate_tree(item, loc + (str(key),), env, doc, problems)
            for key, item in value.items()
        }
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [
            _interpolate_tree(item, loc + (i,), env, doc, problems) for i, item in enumerate(value)
        ]
    return value
