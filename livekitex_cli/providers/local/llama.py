"""An in-process LLM with llama.cpp (``llama-cpp-python``) on a GGUF; SmolLM2-135M ships in a
package. Streams text; tool calls use the ``chatml-function-calling`` format (streamed when the
tool is forced, in one piece when the model may choose)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from livekitex_cli.errors import ExternalServiceError
from livekitex_cli.providers.base import LLM, ChatDelta, ChatMessage, ToolCall
from livekitex_cli.providers.local.models import gguf_path, require, shared
from livekitex_cli.providers.local.options import LlamaLLMOptions
from livekitex_cli.tools import FunctionTool, to_openai_format

_END = object()


def _load(path: str, options: LlamaLLMOptions) -> tuple[Any, threading.Lock]:
    llama_cpp = require("llama_cpp", package="llama-cpp-python")
    model = llama_cpp.Llama(
        model_path=path,
        n_ctx=options.n_ctx,
        n_threads=options.n_threads,
        chat_format=options.chat_format,
        seed=options.seed,
        verbose=False,
    )
    return model, threading.Lock()


def normalise(messages: list[ChatMessage]) -> list[ChatMessage]:
    """llama.cpp's templates want ``content`` to be a string, also beside tool calls."""
    return [{**m, "content": m.get("content") or ""} for m in messages]


class LlamaLLM(LLM):
    provider_name = "local-llama"

    def __init__(self, options: LlamaLLMOptions | None = None) -> None:
        options = options or LlamaLLMOptions()
        super().__init__(timeout=options.timeout, max_retries=0)
        self.options = options
        self.path = str(gguf_path(options.model_path))
        self._model: tuple[Any, threading.Lock] | None = None

    def __repr__(self) -> str:
        return f"<LlamaLLM model={self.path.rsplit('/', 1)[-1]!r}>"

    async def load(self) -> None:
        """Load the model now (it loads on first use otherwise). Idempotent."""
        await asyncio.to_thread(self._ensure)

    def _ensure(self) -> tuple[Any, threading.Lock]:
        if self._model is None:
            key = ("llama", self.path, str(self.options.n_ctx), self.options.chat_format)
            self._model = shared(key, lambda: _load(self.path, self.options))
        return self._model

    def _params(
        self, messages: list[ChatMessage], tools: list[FunctionTool], tool_choice: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "messages": normalise(messages),
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
        }
        choice = tool_choice or self.options.tool_choice
        if tools and choice != "none":
            params["tools"] = to_openai_format(tools)
            if choice in (None, "auto", "required"):
                params["tool_choice"] = "auto"
            else:
                params["tool_choice"] = {"type": "function", "function": {"name": choice}}
        params["stream"] = params.get("tool_choice", "") != "auto"  # auto cannot stream here
        return params

    def _produce(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        model, lock = self._ensure()
        with lock:
            result = model.create_chat_completion(**params)
            if params["stream"]:
                yield from result
            else:
                message = result["choices"][0]["message"]
                if message.get("content") or message.get("tool_calls"):
                    yield {"choices": [{"delta": message}]}
                    return
                # Small models often pick neither a message nor a tool when free to choose:
                # answer without tools rather than say nothing.
                plain = {k: v for k, v in params.items() if k not in ("tools", "tool_choice")}
                yield from model.create_chat_completion(**{**plain, "stream": True})

    async def _chat_impl(
        self, messages: list[ChatMessage], tools: list[FunctionTool], tool_choice: str | None
    ) -> AsyncIterator[ChatDelta]:
        params = self._params(messages, tools, tool_choice)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()  # tokens arrive at ~100/s: no bound needed
        stop = threading.Event()

        def hand_over(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed under us: nobody is listening
                stop.set()

        def worker() -> None:
            try:
                for chunk in self._produce(params):
                    if stop.is_set():
                        return
                    hand_over(chunk)
            except Exception as exc:  # noqa: BLE001 - handed to the loop below
                hand_over(exc)
            finally:
                hand_over(_END)

        thread = threading.Thread(target=worker, name="lkx-llama", daemon=True)
        thread.start()
        calls: dict[int, dict[str, str]] = {}
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    reason = f"{type(item).__name__}: {item}".splitlines()[0]
                    raise ExternalServiceError(self.service, reason)
                delta = item["choices"][0].get("delta") or {}
                if delta.get("content"):
                    yield ChatDelta(text=delta["content"])
                for call in delta.get("tool_calls") or []:
                    slot = calls.setdefault(
                        call.get("index", 0), {"id": "", "name": "", "args": ""}
                    )
                    slot["id"] = call.get("id") or slot["id"]
                    function = call.get("function") or {}
                    slot["name"] = function.get("name") or slot["name"]
                    slot["args"] += function.get("arguments") or ""
        finally:
            stop.set()
        for index in sorted(calls):
            slot = calls[index]
            if slot["name"]:
                yield ChatDelta(
                    tool_call=ToolCall(slot["id"] or f"call_{index}", slot["name"], slot["args"])
                )
