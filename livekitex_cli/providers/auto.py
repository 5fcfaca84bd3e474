"""The ``auto`` provider: ``openai`` when an OpenAI key or server is configured, else ``local``.

This is what makes one agent file work both against a hosted API and fully offline::

    llm:
      provider: auto
      openai: {model: gpt-4o-mini}
      local: {max_tokens: 128}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pydantic

from livekitex_cli.providers.plugin import (
    Kind,
    ProviderFactory,
    ProviderOptions,
    ProviderPlugin,
    default_providers,
)


class AutoOptions(ProviderOptions):
    openai: dict[str, Any] = pydantic.Field(default_factory=dict)
    local: dict[str, Any] = pydantic.Field(default_factory=dict)


def choose(env: Mapping[str, str] | None = None) -> str:
    """``openai`` if ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set, else ``local``."""
    env = os.environ if env is None else env
    return "openai" if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL") else "local"


def _factory(kind: Kind) -> ProviderFactory:
    class Options(AutoOptions):
        @pydantic.model_validator(mode="after")
        def _targets_valid(self) -> Options:
            registry = default_providers()
            for target in ("openai", "local"):
                shared = {"timeout": self.timeout, "max_retries": self.max_retries}
                registry.options(kind, target, {**shared, **getattr(self, target)})
            return self

    def target(options: AutoOptions) -> tuple[str, ProviderOptions]:
        chosen = choose()
        # only what the file sets: each target keeps its own defaults (a local model's longer
        # timeout) unless auto's section names one
        shared = {key: getattr(options, key) for key in ("timeout", "max_retries")}
        shared = {key: value for key, value in shared.items() if key in options.model_fields_set}
        raw = {**shared, **getattr(options, chosen)}
        return chosen, default_providers().options(kind, chosen, raw)

    def create(options: AutoOptions) -> Any:
        return default_providers().create(kind, *target(options))

    def check(options: AutoOptions) -> None:
        default_providers().check(kind, *target(options))

    Options.__name__ = f"Auto{kind.upper()}Options"
    return ProviderFactory(options=Options, create=create, check=check)


plugin = ProviderPlugin(
    name="auto",
    description="openai when OPENAI_API_KEY or OPENAI_BASE_URL is set, otherwise local",
    llm=_factory("llm"),
    stt=_factory("stt"),
    tts=_factory("tts"),
    vad=None,
)
