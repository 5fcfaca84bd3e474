"""Provider plugins: what ``provider:`` in YAML names, found through entry points."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

import pydantic

from livekitex_cli.errors import InvalidConfigError, ResourceError, ValidationError
from livekitex_cli.log import get_logger

ENTRY_POINT_GROUP = "livekitex.providers"
Kind = Literal["llm", "stt", "tts", "vad"]
KINDS: tuple[Kind, ...] = ("llm", "stt", "tts", "vad")
log = get_logger("providers")


class ProviderOptions(pydantic.BaseModel):
    """Base of every provider's options: unknown keys are errors, plus the shared knobs."""

    # protected_namespaces: options may be named model_* (model_path); pydantic < 2.10 warns
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    timeout: float = pydantic.Field(default=30.0, gt=0, le=600)
    max_retries: int = pydantic.Field(default=2, ge=0, le=10)


@dataclass(frozen=True)
class ProviderFactory:
    """One kind of one plugin: its options model and how to build an instance from them.

    ``create`` should import heavy libraries itself, so listing plugins stays cheap.
    ``check`` is the preflight ``lkx start``, ``lkx dev`` and ``lkx validate --check`` run before
    anything registers: it raises an ``LkxError`` whose text names the fix (a missing key, model
    or package; an unreachable server). It must be cheap: no model loads, no imports of heavy
    libraries.
    """

    options: type[ProviderOptions]
    create: Callable[[Any], Any]
    check: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class ProviderPlugin:
    name: str
    description: str = ""
    llm: ProviderFactory | None = None
    stt: ProviderFactory | None = None
    tts: ProviderFactory | None = None
    vad: ProviderFactory | None = None

    def factory(self, kind: Kind) -> ProviderFactory | None:
        found: ProviderFactory | None = getattr(self, kind)
        return found


class ProviderRegistry:
    """Plugins by name; built-ins and third-party packages alike come from entry points."""

    def __init__(self, plugins: list[ProviderPlugin] | None = None) -> None:
        self._plugins: dict[str, ProviderPlugin] = {}
        self.problems: list[str] = []
        self._broken: dict[str, str] = {}  # entry-point name -> why it cannot load
        for plugin in plugins or []:
            self.add(plugin)

    def add(self, plugin: ProviderPlugin) -> None:
        self._plugins[plugin.name] = plugin

    def names(self) -> list[str]:
        return sorted(self._plugins)

    def plugin(self, name: str) -> ProviderPlugin:
        return self._plugins[name]

    def discover(self, group: str = ENTRY_POINT_GROUP) -> None:
        for ep in entry_points(group=group):
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
                why = f"cannot load '{ep.value}': {type(exc).__name__}: {exc}".splitlines()[0]
                self._problem(ep.name, why)
                continue
            if not isinstance(plugin, ProviderPlugin):
                self._problem(ep.name, f"'{ep.value}' is not a ProviderPlugin")
                continue
            self._plugins.setdefault(plugin.name, plugin)

    def _problem(self, name: str, why: str) -> None:
        self.problems.append(f"provider '{name}': {why}")
        self._broken.setdefault(name, why)

    def factory(self, kind: Kind, provider: str) -> ProviderFactory:
        plugin = self._plugins.get(provider)
        found = plugin.factory(kind) if plugin else None
        if found is None and plugin is None and provider in self._broken:
            reason = f"provider '{provider}' is installed but {self._broken[provider]}"
            raise InvalidConfigError(f"{kind}.provider", reason)
        if found is None:
            offering = [name for name, p in sorted(self._plugins.items()) if p.factory(kind)]
            choices = ", ".join(offering) or "none installed"
            reason = f"unknown {kind} provider '{provider}' (available: {choices})"
            raise InvalidConfigError(f"{kind}.provider", reason)
        return found

    def options(self, kind: Kind, provider: str, raw: dict[str, Any]) -> ProviderOptions:
        """Validate ``raw`` options for ``provider``; ``pydantic.ValidationError`` on failure."""
        return self.factory(kind, provider).options.model_validate(raw)

    def check(self, kind: Kind, provider: str, options: ProviderOptions) -> None:
        """The provider's preflight; raises an ``LkxError`` that names the fix."""
        check = self.factory(kind, provider).check
        if check is not None:
            check(options)

    def create(self, kind: Kind, provider: str, options: ProviderOptions) -> Any:
        """A provider instance; a missing optional dependency is a ``ResourceError``."""
        try:
            return self.factory(kind, provider).create(options)
        except ImportError as exc:
            hint = " (pip install -e '.[local]')" if provider in ("local", "auto") else ""
            reason = f"{kind} provider '{provider}' cannot load: {exc}{hint}"
            raise ResourceError("provider", reason) from None


def describe_options_error(kind: Kind, exc: pydantic.ValidationError) -> ValidationError:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in (kind, *err["loc"]))
    if err["type"] == "extra_forbidden":
        return InvalidConfigError(where, "unknown option")
    return InvalidConfigError(where, err["msg"][:1].lower() + err["msg"][1:])


_default: ProviderRegistry | None = None
_lock = threading.Lock()


def default_providers() -> ProviderRegistry:
    """The process-wide provider registry, discovered from entry points on first use."""
    global _default
    with _lock:
        if _default is None:
            registry = ProviderRegistry()
            registry.discover()
            _default = registry
        return _default
