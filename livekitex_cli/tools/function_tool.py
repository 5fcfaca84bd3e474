"""``FunctionTool``: a typed function the LLM can call, and the ``@function_tool`` decorator."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints, overload

import pydantic

from livekitex_cli.errors import ValidationError
from livekitex_cli.tools.schema import (
    docstring_parts,
    json_schema,
    model_from_parameter_list,
    model_from_signature,
)

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 300.0


@dataclass
class RunContext:
    """What a tool may know about the call: the session, the agent, user data and the call id."""

    session: Any = None
    agent: Any = None
    user_data: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""


@dataclass(frozen=True, eq=False)
class FunctionTool:
    """A registered tool. ``parameters`` is the JSON schema the LLM sees."""

    name: str
    description: str
    fn: Callable[..., Any] = field(repr=False)
    arguments_model: type[pydantic.BaseModel] = field(repr=False)
    parameters: dict[str, Any] = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    context_param: str | None = None
    return_type: str | None = None
    origin: str = "__main__"

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly, as plain Python."""
        return self.fn(*args, **kwargs)


def _check_timeout(timeout: float | None) -> float:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValidationError("timeout", "must be a positive number of seconds")
    if timeout > MAX_TIMEOUT:
        raise ValidationError("timeout", f"{timeout:g} s is over the limit of {MAX_TIMEOUT:g} s")
    return float(timeout)


def _context_param(fn: Callable[..., Any]) -> str | None:
    try:
        hints = get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable hints surface later, in schema building
        hints = {}
    for name, hint in hints.items():
        if hint is RunContext:
            return name
    return None


def make_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    origin: str | None = None,
) -> FunctionTool:
    """Build a ``FunctionTool`` from a typed function (what ``@function_tool`` does)."""
    if isinstance(fn, FunctionTool):
        return fn
    if not callable(fn):
        raise ValidationError("function", f"{fn!r} is not callable")
    tool_name: str = name or str(getattr(fn, "__name__", ""))
    if not tool_name.isidentifier():
        raise ValidationError("name", f"'{tool_name}' is not a valid tool name")
    head, described = docstring_parts(fn)
    context = _context_param(fn)
    try:
        model = model_from_signature(fn, skip={context} if context else set(), described=described)
        schema = json_schema(model)
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, NameError) as exc:
        raise ValidationError("parameters", f"tool '{tool_name}': {exc}".splitlines()[0]) from None
    hints = inspect.signature(fn).return_annotation
    return_type = (
        None if hints is inspect.Signature.empty else getattr(hints, "__name__", str(hints))
    )
    return FunctionTool(
        name=tool_name,
        description=(description or head or "").strip(),
        fn=fn,
        arguments_model=model,
        parameters=schema,
        timeout=_check_timeout(timeout),
        context_param=context,
        return_type=return_type,
        origin=origin or str(getattr(fn, "__module__", "__main__")),
    )


@overload
def function_tool(fn: Callable[..., Any], /) -> FunctionTool: ...
@overload
def function_tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None
) -> Callable[[Callable[..., Any]], FunctionTool]: ...
def function_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn a typed function into a tool: ``@function_tool`` or ``@function_tool(timeout=5)``."""

    def wrap(target: Callable[..., Any]) -> FunctionTool:
        return make_tool(target, name=name, description=description, timeout=timeout)

    return wrap(fn) if fn is not None else wrap


def tool_from_definition(definition: dict[str, Any]) -> FunctionTool:
    """A tool from the contract's dict form (name, description, module, function, arity, ...)."""
    if not isinstance(definition, dict):
        raise ValidationError("definition", "must be a mapping")
    known = {"name", "description", "module", "function", "arity", "parameters"}
    known |= {"return_type", "timeout"}
    extra = sorted(set(definition) - known)
    if extra:
        raise ValidationError(extra[0], "is not a field of a tool definition")
    for key in ("name", "module", "function"):
        if not isinstance(definition.get(key), str) or not definition[key]:
            raise ValidationError(key, "is required and must be a non-empty string")
    name = definition["name"]
    try:
        module = importlib.import_module(definition["module"])
        fn = getattr(module, definition["function"])
    except ImportError as exc:
        raise ValidationError("module", f"cannot import '{definition['module']}': {exc}") from None
    except AttributeError:
        reason = f"'{definition['module']}' has no function '{definition['function']}'"
        raise ValidationError("function", reason) from None
    fn = fn.fn if isinstance(fn, FunctionTool) else fn
    parameters = definition.get("parameters")
    if parameters is None:
        tool = make_tool(fn, name=name, description=definition.get("description"))
        model, schema = tool.arguments_model, tool.parameters
    else:
        if not isinstance(parameters, list):
            raise ValidationError("parameters", "must be a list of parameter maps")
        model = model_from_parameter_list(name, parameters)
        schema = json_schema(model)
    arity = definition.get("arity")
    context = _context_param(fn)
    accepted = [p for p in inspect.signature(fn).parameters if p != context]
    if arity is not None and arity != len(accepted):
        raise ValidationError(
            "arity", f"is {arity} but '{definition['function']}' takes {len(accepted)}"
        )
    if set(model.model_fields) - set(accepted):
        missing = sorted(set(model.model_fields) - set(accepted))[0]
        raise ValidationError("parameters", f"'{missing}' is not a parameter of the function")
    head, _ = docstring_parts(fn)
    return FunctionTool(
        name=name,
        description=str(definition.get("description") or head),
        fn=fn,
        arguments_model=model,
        parameters=schema,
        timeout=_check_timeout(definition.get("timeout")),
        context_param=context,
        return_type=definition.get("return_type"),
        origin=definition["module"],
    )


def to_openai_format(tools: list[FunctionTool] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools in the OpenAI function-calling shape: ``[{type: function, function: {...}}]``."""
    out = []
    for tool in tools:
        if isinstance(tool, FunctionTool):
            name, description, parameters = tool.name, tool.description, tool.parameters
        else:
            name, description = tool["name"], tool.get("description", "")
            parameters = tool.get("parameters") or {}
            if isinstance(parameters, list):
                parameters = json_schema(model_from_parameter_list(name, parameters))
        out.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": description,
                    "parameters": {
                        "type": "object",
                        "properties": parameters.get("properties", {}),
                        "required": list(parameters.get("required", [])),
                    },
                },
            }
        )
    return out
