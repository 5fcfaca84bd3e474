"""Chat completions, streamed, with tool calls assembled from their streamed fragments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from livekitex_cli.providers.base import LLM, ChatDelta, ChatMessage, ToolCall
from livekitex_cli.providers.openai.client import UsesClient, map_error
from livekitex_cli.providers.openai.options import OpenAILLMOptions
from livekitex_cli.tools import FunctionTool, to_openai_format
from livekitex_cli.tracing import configured as tracing_configured


def tool_choice_param(choice: str | None) -> Any:
    """``auto``/``required``/``none`` as they are; any other string names one tool."""
    if choice is None or choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


class OpenAILLM(UsesClient, LLM):
    provider_name = "openai"

    def __init__(self, options: OpenAILLMOptions) -> None:
        super().__init__(timeout=options.timeout, max_retries=options.max_retries)
        self.options = options
        self._take_client(options)

    def __repr__(self) -> str:
        return f"<OpenAILLM model={self.options.model!r} base_url={str(self.client.base_url)!r}>"

    async def _chat_impl(
        self, messages: list[ChatMessage], tools: list[FunctionTool], tool_choice: str | None
    ) -> AsyncIterator[ChatDelta]:
        # the history and the tool schemas are plain JSON already: sent as ``extra_body`` they
        # skip the client's per-request type walk over every message (a third of a busy
        # worker's main thread at 20 turns of history; see BENCHMARKS.md); same body sent
        body: dict[str, Any] = {"messages": messages}
        params: dict[str, Any] = {"model": self.options.model, "messages": [], "stream": True}
        if tracing_configured():  # the token counts in a last chunk of their own, for traces
            body["stream_options"] = {"include_usage": True}  # (not every server knows it)
        if self.options.temperature is not None:
            params["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            params["max_tokens"] = self.options.max_tokens
        if tools:
            body["tools"] = to_openai_format(tools)
            choice = tool_choice_param(tool_choice or self.options.tool_choice)
            if choice is not None:
                params["tool_choice"] = choice
            if self.options.parallel_tool_calls is not None:
                params["parallel_tool_calls"] = self.options.parallel_tool_calls
        partial: dict[int, dict[str, str]] = {}
        said = False
        try:
            stream = await self.client.chat.completions.create(**params, extra_body=body)
            async for chunk in stream:
                if chunk.usage is not None:
                    yield ChatDelta(usage=_usage(chunk.usage))
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    said = True
                    yield ChatDelta(text=delta.content)
                for call in delta.tool_calls or []:
                    slot = partial.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    if call.id:
                        slot["id"] = call.id
                    if call.function is not None:
                        slot["name"] += call.function.name or ""
                        slot["arguments"] += call.function.arguments or ""
        except Exception as exc:  # noqa: BLE001 - every client failure becomes one of ours
            raise map_error(self.service, exc, self.timeout) from exc
        for index in sorted(partial):
            slot = partial[index]
            if slot["name"]:
                call_id = slot["id"] or f"call_{index}"
                said = True
                yield ChatDelta(tool_call=ToolCall(call_id, slot["name"], slot["arguments"]))
        if not said:  # an empty completion: its request id, for whoever reports it
            yield ChatDelta(request_id=_request_id(stream))


def _usage(usage: Any) -> dict[str, int]:
    counts = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}
    return {name: int(value) for name, value in counts.items() if value is not None}


def _request_id(stream: Any) -> str:
    response = getattr(stream, "response", None)
    headers = getattr(response, "headers", None) or {}
    return str(headers.get("x-request-id", "") or getattr(stream, "_request_id", "") or "")
