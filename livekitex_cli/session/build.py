"""Provider instances for an agent, from its YAML sections (or the defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livekitex_cli.agent import Agent
from livekitex_cli.errors import ResourceError
from livekitex_cli.providers import LLM, STT, TTS, VAD, Kind
from livekitex_cli.providers.auto import choose

DEFAULT_SECTIONS: dict[str, dict[str, Any]] = {
    "llm": {"provider": "auto"},
    "stt": {"provider": "auto"},
    "tts": {"provider": "auto"},
}


@dataclass
class Providers:
    llm: LLM
    stt: STT | None
    tts: TTS | None
    vad: VAD | None


def build_providers(
    agent: Agent,
    *,
    llm: LLM | None = None,
    stt: STT | None = None,
    tts: TTS | None = None,
    vad: VAD | None = None,
    speak: bool = True,
) -> Providers:
    """Instances for every section the agent has; explicit instances win over YAML.

    ``speak=False`` leaves TTS out (replies are text only).
    """
    built_llm = llm or _create(agent, "llm")
    voice = agent.spec.is_voice or stt is not None or tts is not None
    built_stt = stt or (_create(agent, "stt") if agent.spec.stt else None)
    built_tts = tts or (_create(agent, "tts") if agent.spec.tts and speak else None)
    built_vad = vad
    # hearing needs no voice: an agent with STT and no TTS still listens (with the VAD its
    # YAML names, or the default one), and answers in text
    if built_vad is None and (voice or built_stt is not None):
        built_vad = _create(agent, "vad") if agent.spec.vad else default_vad()
    return Providers(built_llm, built_stt, built_tts, built_vad)


def default_vad() -> VAD:
    """Silero when the local extra is installed, else the built-in energy VAD."""
    try:
        from livekitex_cli.providers.local.options import SileroVADOptions
        from livekitex_cli.providers.local.silero import SileroVAD

        return SileroVAD(SileroVADOptions())
    except (ImportError, ResourceError):
        from livekitex_cli.providers.energy import EnergyVAD

        return EnergyVAD()


def _create(agent: Agent, kind: Kind) -> Any:
    config = getattr(agent.spec, kind)
    options = agent.provider_options.get(kind)
    if config is None or options is None:
        raw = DEFAULT_SECTIONS[kind]
        provider = raw["provider"]
        options = agent.providers.options(kind, provider, {})
    else:
        provider = config.provider
    return agent.providers.create(kind, provider, options)


def describe(providers: Providers) -> dict[str, str]:
    """Which implementation serves each stage, for logs and the console banner."""
    return {
        kind: repr(getattr(providers, kind)) if getattr(providers, kind) else "none"
        for kind in ("llm", "stt", "tts", "vad")
    } | {"auto": choose()}
