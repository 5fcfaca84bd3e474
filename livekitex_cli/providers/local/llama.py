"""An in-process LLM: llama.cpp (``xllamacpp``, prebuilt) on a GGUF that ships in a package.

Small models do not follow tool-call formats, so the model never writes one: a constrained
routing answer picks the tool and its arguments (see ``routing``), and replies are sampled under a
plain-text grammar with repetition penalties, then shaped for speech (see ``shaping``).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

from livekitex_cli.errors import ExternalServiceError
from livekitex_cli.log import get_logger
from livekitex_cli.providers.base import LLM, ChatDelta, ChatMessage, ToolCall
from livekitex_cli.providers.local import bundled, prompt_store, routing
from livekitex_cli.providers.local.models import gguf_path, shared
from livekitex_cli.providers.local.options import LlamaLLMOptions
from livekitex_cli.providers.local.runtime import Chunk, LlamaRuntime, top_logprobs
from livekitex_cli.providers.local.shaping import ReplyGuard
from livekitex_cli.tools import FunctionTool

log = get_logger("providers")
_END = object()
# What chat templates and tool-call formats put in text; a reply ends before any of them.
STOP = ["<|im_end|>", "<|im_start|>", "<end_of_turn>", "<|eot_id|>", "</s>"]
CALL_TOKENS = 192  # room for the arguments of a tool call
# three prompt caches: calling reads the tools and the history, replying the history without
# tools, deciding the tools and the newest message; in one slot each would push the others'
# prefix out every turn
CALL_SLOT, REPLY_SLOT, DECIDE_SLOT = 0, 1, 2
DECIDE_TOP = 10  # first-token candidates weighed to decide between a call and words


class LlamaLLM(LLM):
    provider_name = "local-llama"
    # the first request of a conversation reads ~450 tokens of prompt before its first word:
    # 6-9 s on a quiet 2-core machine, several times that on a busy one
    stall_grace = 90.0

    def __init__(self, options: LlamaLLMOptions | None = None) -> None:
        options = options or LlamaLLMOptions()
        super().__init__(timeout=options.timeout, max_retries=0)
        self.options = options
        self.path = str(gguf_path(options.model_path))
        self._runtime: LlamaRuntime | None = None
        self._names: dict[tuple[str, str], str] = {}  # system prompt -> its saved prefix's name

    def __repr__(self) -> str:
        return f"<LlamaLLM model={self.path.rsplit('/', 1)[-1]!r}>"

    async def load(self) -> None:
        """Load the model now (it loads on first use otherwise). Idempotent."""
        await asyncio.to_thread(self._ensure)

    def _load(self) -> LlamaRuntime:
        o = self.options
        if o.model_path is None:
            bundled.assemble()  # once per machine: the chunks become one file in the cache
        return LlamaRuntime(
            self.path,
            n_ctx=o.n_ctx,
            n_threads=o.n_threads,
            chat_template=o.chat_template,
            saved_prompts=prompt_store.folder(),
            n_slots=3,
        )

    def _ensure(self) -> LlamaRuntime:
        if self._runtime is None:
            o = self.options
            key = ("llama", self.path, str(o.n_ctx), str(o.n_threads), o.chat_template or "")
            self._runtime = shared(key, self._load)
        return self._runtime

    async def prepare(self, *, messages: list[ChatMessage], tools: list[FunctionTool]) -> None:
        """Read the instructions and the tool descriptions (about 450 tokens for an example
        agent: 6-20 s on 2 cores) into llama.cpp's prompt cache, so that the first request of
        the conversation reads only its own message. A session does this while its greeting
        plays; a request that comes sooner waits for it and has that much less to read. The
        state is saved (``prompt_store``): the next process restores it in milliseconds."""
        ask: list[ChatMessage] = [*messages, {"role": "user", "content": "Hello"}]
        grammar = routing.grammar(tuple(tools), calls=bool(tools), text=True)
        call = self.request(ask, tools, grammar, text=False) | {"max_tokens": 1}
        reply = self.request(ask, tools, routing.grammar((), calls=False, text=True), text=True)
        requests = [call, reply | {"max_tokens": 1}]
        if tools:  # deciding reads the call's prefix: restored from the state just saved
            requests.append(self.decide_request(ask, tools))
        for request in requests:  # each into its own slot
            await asyncio.to_thread(self._once, request, prepare=True)

    def _once(self, request: dict[str, Any], *, prepare: bool = False) -> Chunk | None:
        """One whole completion, the slot's prefix restored first if this process has not read
        it (and saved after, if no process had). ``prepare``: only read the prefix in."""
        runtime = self._ensure()
        with runtime.lock:
            name = self._restore(runtime, request)
            if name is None and prepare:
                return None
            result = runtime.complete(request)
            if name is not None and runtime.slots is not None:
                runtime.slots.save(name, slot=request["id_slot"])
            return result

    def decide_request(
        self, messages: list[ChatMessage], tools: list[FunctionTool]
    ) -> dict[str, Any]:
        """One token that decides between a call and words, read from the newest message
        alone (``routing.decide_messages``), with its likeliest candidates."""
        grammar = routing.grammar(tuple(tools), calls=True, text=True)
        request = self.request(routing.decide_messages(messages), tools, grammar, text=False)
        return request | {"max_tokens": 1, "id_slot": DECIDE_SLOT, "logprobs": True,
                          "top_logprobs": DECIDE_TOP}  # fmt: skip

    async def wants_call(self, messages: list[ChatMessage], tools: list[FunctionTool]) -> bool:
        """Whether the model calls one of ``tools`` rather than answering in words: its odds
        for a call, times (when they lean to one) the share of a call's name that is one of
        ``tools`` (``routing.named_share``): a call that names no tool is words."""
        decide = self.decide_request(messages, tools)
        first = await asyncio.to_thread(self._once, decide)
        share = routing.call_share(top_logprobs(first), _content(first))
        if share <= routing.CALL_LINE:
            return False
        begun = {"role": "assistant", "content": routing.NAME_START}  # the same prompt, no grammar
        request = {key: value for key, value in decide.items() if key != "grammar"}
        request["messages"] = [*decide["messages"], begun]
        try:
            named = await asyncio.to_thread(self._once, request)
        except ExternalServiceError:  # a chat template that cannot go on with a begun answer
            return True
        names = [tool.name for tool in tools]
        return share * routing.named_share(top_logprobs(named), names) > routing.CALL_LINE

    def _restore(self, runtime: LlamaRuntime, request: dict[str, Any]) -> str | None:
        """Under the runtime's lock, before the first request for a system prompt: restore its
        saved prefix. The name to save it under if that is still to be done, else ``None``."""
        first = (request.get("messages") or [{}])[0]
        known = str(first.get("role")), str(first.get("content"))
        name = self._names.get(known)  # the hash of a long system prompt, once per prompt
        if name is None:
            if len(self._names) >= prompt_store.KEEP:  # instructions that change every turn
                self._names.clear()
            name = self._names[known] = prompt_store.name_for(self.path, request)
        slot = int(request["id_slot"])
        if (slot, name) in runtime.prepared:
            return None  # this process has read it: the slot's prompt cache has it
        runtime.prepared.add((slot, name))
        if runtime.slots is not None and runtime.slots.restore(name, slot=slot):
            return None
        return name

    def request(
        self, messages: list[ChatMessage], tools: list[FunctionTool], grammar: str, *, text: bool
    ) -> dict[str, Any]:
        """A completion under ``grammar``. A call reads the tools and the whole history (its
        grammar allows no words); a reply reads the history with each turn's tool results
        folded into its question and no tools (``routing.answer_messages``); deciding reads
        the newest message only (``decide_request``). Each kind keeps its own slot's prompt
        cache, so none pushes another's prefix out (in one slot, each turn read its whole
        history again: 6-15 s a turn on 2 cores)."""
        o = self.options
        request: dict[str, Any] = {
            # a reply in words is shown no tools (a small model shown them talks about them)
            "messages": (
                routing.answer_messages(messages)
                if text
                else routing.prompt_messages(messages, tools)
            ),
            "grammar": grammar,
            "max_tokens": o.max_tokens if text else CALL_TOKENS,
            "stop": [*STOP, *o.stop],
            "temperature": 0.0,
            "seed": o.seed,
            "cache_prompt": True,
            "id_slot": REPLY_SLOT if text else CALL_SLOT,
        }
        if text:  # penalties and sampling for prose; a decision or a call is greedy and clean
            request.update(
                temperature=o.temperature,
                top_p=o.top_p,
                min_p=0.05,
                repeat_penalty=o.repeat_penalty,
                repeat_last_n=64,
                dry_multiplier=o.dry_multiplier,
                dry_allowed_length=3,
            )
        return request

    async def _chat_impl(
        self, messages: list[ChatMessage], tools: list[FunctionTool], tool_choice: str | None
    ) -> AsyncIterator[ChatDelta]:
        try:
            turn = routing.plan(messages, tools, tool_choice or self.options.tool_choice)
        except ValueError as exc:
            raise ExternalServiceError(self.service, str(exc)) from None
        calling = turn.mode != "reply"
        if turn.mode == "route" and turn.allow_text:  # free to choose: the model's odds decide
            calling = await self.wants_call(messages, tools)
        if calling:
            grammar = routing.grammar(turn.tools, calls=True, text=False)
            call = self.request(messages, tools, grammar, text=False)
            alone = routing.prompt_messages(routing.decide_messages(messages), tools)
            if call["messages"] == alone:  # nothing before the question: deciding read it all
                call["id_slot"] = DECIDE_SLOT
            parsed = routing.parse_call(await self._complete(call))
            if parsed is None:
                raise ExternalServiceError(self.service, "the model's tool call was cut short")
            name, arguments = parsed
            yield ChatDelta(tool_call=ToolCall(f"call_{uuid.uuid4().hex[:12]}", name, arguments))
            return
        guard = ReplyGuard(self.options.max_sentences)
        request = self.request(
            messages, tools, routing.grammar((), calls=False, text=True), text=True
        )
        tokens = 0
        async for piece in self._generate(request):
            tokens += 1
            if text := guard.push(piece):
                yield ChatDelta(text=text)
            if guard.done or tokens >= self.options.max_tokens:
                break
        if text := guard.finish():
            yield ChatDelta(text=text)
        if guard.stopped_by in ("repeat", "markup"):
            log.debug("local reply cut short", extra={"reason": guard.stopped_by})

    async def _complete(self, request: dict[str, Any]) -> str:
        pieces = [piece async for piece in self._generate(request)]
        return "".join(pieces)

    async def _generate(self, request: dict[str, Any]) -> AsyncIterator[str]:
        """The generated text pieces; generation stops when the consumer does."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()  # tokens arrive at ~100/s: no bound needed
        stop = threading.Event()

        def hand_over(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed under us: nobody is listening
                stop.set()

        def on_chunk(chunk: Chunk) -> bool:
            choices = chunk.get("choices") or [{}]
            piece = (choices[0].get("delta") or {}).get("content") or ""
            if piece:
                hand_over(piece)
            return stop.is_set()

        def worker() -> None:
            try:
                runtime = self._ensure()
                with runtime.lock:
                    unsaved = self._restore(runtime, request)  # if before prepare() ran
                    runtime.stream(request, on_chunk)
                    if unsaved is not None and runtime.slots is not None:
                        runtime.slots.save(unsaved, slot=request["id_slot"])
            except Exception as exc:  # noqa: BLE001 - handed to the loop below
                hand_over(exc)
            finally:
                hand_over(_END)

        # not a daemon: a native call must not be cut off at exit (the runtime aborts)
        thread = threading.Thread(target=worker, name="lkx-llama")
        thread.start()
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise self._error(item)
                yield item
        finally:
            stop.set()  # generation ends at the next token; wait for it, off the loop
            if thread.is_alive():
                await asyncio.to_thread(thread.join, 5.0)

    def _error(self, exc: BaseException) -> Exception:
        if isinstance(exc, ExternalServiceError):
            return exc
        if isinstance(exc, Exception) and type(exc).__module__.startswith("livekitex_cli"):
            return exc
        return ExternalServiceError(self.service, f"{type(exc).__name__}: {exc}".splitlines()[0])


def _content(result: Chunk | None) -> str:
    """The text a whole chat completion sampled."""
    choice = ((result or {}).get("choices") or [{}])[0]
    return str((choice.get("message") or {}).get("content") or "")
