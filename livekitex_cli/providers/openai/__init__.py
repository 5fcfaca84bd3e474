"""The ``openai`` provider: chat completions, transcriptions and speech on any compatible server."""

from __future__ import annotations

import os
from typing import Any

from livekitex_cli.errors import ResourceError
from livekitex_cli.providers.openai.options import (
    OpenAIClientOptions,
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


def _check(options: OpenAIClientOptions) -> None:
    """Preflight: a key for the hosted API, or a server that answers at ``base_url``."""
    from livekitex_cli.providers.preflight import reachable

    base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or None
    if base_url is not None:
        reachable(base_url)
    elif not os.environ.get(options.api_key_env):
        variable = options.api_key_env
        raise ResourceError(
            "credentials",
            f"{variable} is not set: export {variable}=..., set base_url for an "
            "OpenAI-compatible server, or use provider: local (offline)",
        )


plugin = ProviderPlugin(
    name="openai",
    description="OpenAI or any OpenAI-compatible server (Ollama, vLLM, llama.cpp, Groq)",
    llm=ProviderFactory(options=OpenAILLMOptions, create=_llm, check=_check),
    stt=ProviderFactory(options=OpenAISTTOptions, create=_stt, check=_check),
    tts=ProviderFactory(options=OpenAITTSOptions, create=_tts, check=_check),
)
