"""The ``openai`` provider: chat completions, transcriptions and speech on any compatible server."""

from __future__ import annotations

from typing import Any

from livekitex_cli.providers.openai.options import (
    OpenAILLMOptions,
    OpenAISTTOptions,
    OpenAITTSOptions,
)
from livekitex_cli.providers.plugin import ProviderFactory, ProviderPlugin


def _llm(options: OpenAILLMOptions) -> Any:
    from livekitex_cli.providers.openai.llm import OpenAILLM

    return OpenAILLM(options)


def _stt(options: OpenAISTTOptions) -> Any:
    from livekitex_cli.providers.openai.speech import OpenAISTT

    return OpenAISTT(options)


def _tts(options: OpenAITTSOptions) -> Any:
    from livekitex_cli.providers.openai.speech import OpenAITTS

    return OpenAITTS(options)


plugin = ProviderPlugin(
    name="openai",
    description="OpenAI or any OpenAI-compatible server (Ollama, vLLM, llama.cpp, Groq)",
    llm=ProviderFactory(options=OpenAILLMOptions, create=_llm),
    stt=ProviderFactory(options=OpenAISTTOptions, create=_stt),
    tts=ProviderFactory(options=OpenAITTSOptions, create=_tts),
)
