"""The tool registry: tools by name, discovered once from the ``livekitex.tools`` entry points."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from livekitex_cli.errors import UnknownToolError, ValidationError
from livekitex_cli.log import get_logger
from livekitex_cli.tools.function_tool import FunctionTool, make_tool, tool_from_definition

ENTRY_POINT_GROUP = "livekitex.tools"
log = get_logger("tools")


@dataclass(frozen=True)
class ToolLoadProblem:
    """An entry point that could not become a tool; the other tools still load."""

    name: str
    distribution: str
    reason: str

    def __str__(self) -> str:
        return f"tool '{self.name}' from {self.distribution}: {self.reason}"


class ToolRegistry:
    """Tools by name. Build one per test; the process-wide one comes from ``default_registry()``."""

    def __init__(self, tools: Iterable[FunctionTool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, FunctionTool] = {}
        self.problems: list[ToolLoadProblem] = []
        for tool in tools:
            self.register(tool)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def all(self) -> dict[str, FunctionTool]:
        """Every tool by name, sorted by name."""
        return {name: self._tools[name] for name in self.names()}

    def get(self, name: str) -> FunctionTool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(name, known=self.names()) from None

    def register(
        self, tool: FunctionTool | Callable[..., Any] | dict[str, Any], *, origin: str | None = None
    ) -> FunctionTool:
        """Add a tool (a ``FunctionTool``, a typed function, or the contract's dict form)."""
        built = tool_from_definition(tool) if isinstance(tool, dict) else make_tool(tool)
        if origin is not None:
            built = replace(built, origin=origin)
        existing = self._tools.get(built.name)
        if existing is not None and existing.fn is not built.fn:
            reason = (
                f"tool '{built.name}' is provided by both {existing.origin} and {built.origin}; "
                "rename one of them"
            )
            raise ValidationError("tools", reason)
        self._tools[built.name] = built
        return built

    def discover(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Load every entry point of ``group``. Failures become ``problems``; duplicates neither."""
        found: dict[str, list[FunctionTool]] = {}
        for ep in entry_points(group=group):
            dist = _distribution(ep)
            try:
                loaded = ep.load()
                tool = make_tool(loaded, origin=dist)
                if tool.origin != dist:
                    tool = replace(tool, origin=dist)
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
                reason = f"cannot load '{ep.value}': {type(exc).__name__}: {exc}".splitlines()[0]
                self.problems.append(ToolLoadProblem(ep.name, dist, reason))
                log.info("tool entry point failed to load", extra={"tool": ep.name, "dist": dist})
                continue
            found.setdefault(tool.name, []).append(tool)
        for name, tools in sorted(found.items()):
            origins = sorted({t.origin for t in tools})
            if len(tools) > 1 and len({id(t.fn) for t in tools}) > 1:
                both = " and ".join(origins)
                reason = f"provided by both {both}; neither is loaded until one is renamed"
                self.problems.append(ToolLoadProblem(name, both, reason))
                continue
            if name in self._tools:
                reason = f"already registered by {self._tools[name].origin}"
                self.problems.append(ToolLoadProblem(name, origins[0], reason))
                continue
            self._tools[name] = tools[0]


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.module.split(".", 1)[0]
    return f"{dist.name} {dist.version}"


_default: ToolRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ToolRegistry:
    """The process-wide registry, discovered from entry points on first use."""
    global _default
    with _default_lock:
        if _default is None:
            registry = ToolRegistry()
            registry.discover()
            _default = registry
        return _default


def reset_default_registry() -> None:
    """Forget the process-wide registry (for tests and after installing plugins)."""
    global _default
    with _default_lock:
        _default = None
