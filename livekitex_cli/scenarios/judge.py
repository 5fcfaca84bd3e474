"""The judge LLM that grades ``eval:`` criteria (and simulated callers' ``success:``).

It is configured like an agent's ``llm:`` section, in the scenario file (``judge:``) or with
``lkx test --judge PROVIDER[:MODEL]`` (which wins). A scenario without ``eval:`` needs none.
A judge that cannot be built, fails its preflight or fails while grading is *unavailable*
(exit code 6): the verdicts it would have given are unknown, not failures of the agent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livekitex_cli.config import ProviderConfig
from livekitex_cli.errors import LkxError, ResourceError
from livekitex_cli.providers import LLM, ProviderRegistry, default_providers
from livekitex_cli.session.run_expect import Verdict, grade

# python -m bench judge, 2026-11-28: 14 labelled replies graded twice each
WEAK_JUDGE = (
    "the judge is the bundled local model, too small to grade: it gave 12 of 28 verdicts right "
    "in `python -m bench judge` and passed 12 of 14 replies that miss their criterion, so an "
    "eval: verdict from it means little; give --judge openai:MODEL, or local:PATH.gguf with a "
    "capable model"
)


def judge_note(config: ProviderConfig) -> str | None:
    """What to tell the user about a judge before trusting its verdicts, if anything."""
    if config.provider == "local" and not config.options.get("model_path"):
        return WEAK_JUDGE
    return None


class JudgeUnavailable(ResourceError):
    def __init__(self, reason: str) -> None:
        super().__init__("judge", reason)


def parse_judge(text: str, providers: ProviderRegistry | None = None) -> ProviderConfig:
    """``openai:gpt-4o-mini``, ``local``, ``local:/models/x.gguf``: a provider, and what its
    options call the model (``model``, else ``model_path``)."""
    provider, _, model = text.partition(":")
    options: dict[str, Any] = {"provider": provider.strip()}
    if model.strip():
        registry = providers or default_providers()
        try:
            fields = registry.factory("llm", options["provider"]).options.model_fields
        except LkxError as exc:
            raise JudgeUnavailable(str(exc)) from None
        key = "model" if "model" in fields else "model_path"
        options[key] = model.strip()
    return ProviderConfig.model_validate(options)


def config_key(config: ProviderConfig) -> str:
    return repr(sorted(config.model_dump().items()))


class Judges:
    """One LLM per distinct judge configuration, built on first use and closed at the end."""

    def __init__(self, providers: ProviderRegistry | None = None) -> None:
        self.providers = providers or default_providers()
        self._llms: dict[str, LLM] = {}
        self._lock = asyncio.Lock()

    def check(self, config: ProviderConfig) -> None:
        """The provider's preflight (keys, packages, reachable server); cheap, loads nothing."""
        try:
            options = self.providers.options("llm", config.provider, config.options)
            self.providers.check("llm", config.provider, options)
        except Exception as exc:  # noqa: BLE001 - a plugin's check may raise anything
            raise JudgeUnavailable(f"{config.provider}: {exc}") from None

    async def llm(self, config: ProviderConfig) -> LLM:
        key = config_key(config)
        async with self._lock:
            if key not in self._llms:
                try:
                    options = self.providers.options("llm", config.provider, config.options)
                    self._llms[key] = self.providers.create("llm", config.provider, options)
                except Exception as exc:  # noqa: BLE001 - whatever stops it, it is unavailable
                    raise JudgeUnavailable(f"{config.provider}: {exc}") from None
            return self._llms[key]

    async def grade(
        self,
        config: ProviderConfig,
        *,
        criterion: str,
        reply: str,
        context: str = "",
        subject: str = "reply",
    ) -> Verdict:
        llm = await self.llm(config)
        try:
            return await grade(
                llm, criterion=criterion, reply=reply, context=context, subject=subject
            )
        except LkxError as exc:
            raise JudgeUnavailable(str(exc)) from None

    async def aclose(self) -> None:
        for llm in self._llms.values():
            await llm.aclose()
        self._llms.clear()
