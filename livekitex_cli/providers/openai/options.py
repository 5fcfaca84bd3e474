"""Options of the ``openai`` provider: any OpenAI-compatible server through the official client."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from livekitex_cli.providers.plugin import ProviderOptions


class OpenAIClientOptions(ProviderOptions):
    base_url: str | None = Field(default=None, description="server URL; default OPENAI_BASE_URL")
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class OpenAILLMOptions(OpenAIClientOptions):
    model: str = "gpt-4o-mini"
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=128_000)
    tool_choice: str | None = Field(default=None, description="auto, required, none or a tool name")
    parallel_tool_calls: bool | None = None


class OpenAISTTOptions(OpenAIClientOptions):
    model: str = "whisper-1"
    language: str | None = None
    prompt: str | None = None


class OpenAITTSOptions(OpenAIClientOptions):
    model: str = "tts-1"
    voice: str = "alloy"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = None
    sample_rate: Literal[24000] = 24000
