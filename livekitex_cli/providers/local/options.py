"""Options of the ``local`` provider: offline models that ship inside packages."""

from __future__ import annotations

from pydantic import Field

from livekitex_cli.providers.plugin import ProviderOptions


class SileroVADOptions(ProviderOptions):
    model_path: str | None = Field(default=None, description="silero_vad.onnx; default: bundled")
    threshold: float = Field(default=0.5, gt=0, lt=1)


class WhisperSTTOptions(ProviderOptions):
    model: str | None = Field(default=None, description="path or size name; default: tiny.en")
    language: str | None = "en"
    compute_type: str = "int8"
    beam_size: int = Field(default=1, ge=1, le=10)
    cpu_threads: int = Field(default=0, ge=0, le=64)


class PiperTTSOptions(ProviderOptions):
    voice: str | None = Field(default=None, description="voice .onnx path; default: bundled joe")
    config: str | None = Field(default=None, description="voice .onnx.json; default: beside voice")
    speaker: int | None = Field(default=None, ge=0)
    length_scale: float = Field(default=1.0, gt=0.1, le=5)


class LlamaLLMOptions(ProviderOptions):
    model_path: str | None = Field(default=None, description="GGUF path; default: SmolLM2-135M")
    n_ctx: int = Field(default=2048, ge=256, le=131_072)
    n_threads: int | None = Field(default=None, ge=1, le=256)
    chat_format: str = "chatml-function-calling"
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=256, ge=1, le=8192)
    tool_choice: str | None = Field(default=None, description="auto, none or a tool name")
    seed: int = 0
