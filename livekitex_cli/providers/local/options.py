"""Options of the ``local`` provider: offline models that ship inside packages."""

from __future__ import annotations

from pydantic import Field

from livekitex_cli.providers.plugin import ProviderOptions


class SileroVADOptions(ProviderOptions):
    model_path: str | None = Field(default=None, description="silero_vad.onnx; default: bundled")
    threshold: float = Field(default=0.5, gt=0, lt=1)


MOONSHINE = "moonshine-tiny"  # Moonshine tiny-en instead of whisper (``moonshine.py``)


class WhisperSTTOptions(ProviderOptions):
    model: str | None = Field(
        default=None,
        description=f"whisper model path or size name, or {MOONSHINE}; default: whisper tiny.en",
    )
    language: str | None = "en"
    compute_type: str = "int8"
    beam_size: int = Field(default=1, ge=1, le=10)
    cpu_threads: int = Field(default=0, ge=0, le=64)
    fit_window: bool = Field(
        default=True,
        description="encode the utterance plus 1 s, not a 30 s window (several times faster)",
    )


class PiperTTSOptions(ProviderOptions):
    voice: str | None = Field(default=None, description="voice .onnx path; default: bundled joe")
    config: str | None = Field(default=None, description="voice .onnx.json; default: beside voice")
    speaker: int | None = Field(default=None, ge=0)
    length_scale: float = Field(default=1.0, gt=0.1, le=5)
    noise_scale: float | None = Field(
        default=None, ge=0, le=2, description="voice variation; default: the voice's; 0: none"
    )
    noise_w: float | None = Field(
        default=None, ge=0, le=2, description="timing variation; default: the voice's; 0: none"
    )


class LlamaLLMOptions(ProviderOptions):
    timeout: float = Field(default=60.0, gt=0, le=600, description="s without a new token")
    model_path: str | None = Field(default=None, description="GGUF path; default: the bundled one")
    chat_template: str | None = Field(
        default=None, description="llama.cpp template name or Jinja text; default: the GGUF's own"
    )
    n_ctx: int = Field(
        default=4096,
        ge=256,
        le=131_072,
        description="tokens of context in each of the 3 prompt caches (decide, call, reply)",
    )
    n_threads: int | None = Field(default=None, ge=1, le=256)
    temperature: float = Field(default=0.0, ge=0, le=2, description="0: greedy")
    top_p: float = Field(default=0.9, gt=0, le=1)
    repeat_penalty: float = Field(default=1.1, ge=1, le=2, description="1: off")
    dry_multiplier: float = Field(default=0.0, ge=0, le=5, description="DRY; 0: off")
    max_tokens: int = Field(default=128, ge=1, le=8192)
    max_sentences: int | None = Field(
        default=3, ge=1, le=50, description="end a reply after this many sentences; null: no limit"
    )
    stop: list[str] = Field(default_factory=list, description="extra stop sequences")
    tool_choice: str | None = Field(default=None, description="auto, required, none or a tool name")
    seed: int = 0
