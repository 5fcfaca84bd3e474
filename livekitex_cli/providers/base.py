"""Provider base classes. A public method wraps ``_..._impl``; the base owns retries, timeouts,
timing and metrics, so an implementation writes only the call itself.

Implementations raise ``ExternalServiceError`` (with ``retryable``) or ``OperationTimeoutError``;
anything else they raise is wrapped as a non-retryable ``ExternalServiceError``.
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from livekitex_cli.errors import ExternalServiceError, LkxError, OperationTimeoutError
from livekitex_cli.log import get_logger
from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.tools import FunctionTool

if TYPE_CHECKING:
    from livekitex_cli.providers.audio import Int16Array

log = get_logger("providers")
T = TypeVar("T")
ChatMessage = dict[str, Any]


@dataclass
class ProviderStats:
    """Counters and the last timings of one provider instance."""

    calls: int = 0
    errors: int = 0
    retries: int = 0
    last_duration: float = 0.0
    last_first_result: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderTiming:
    """What a provider tells its observers about one request: ``first_result`` when a stream
    yields its first item, then ``done`` or ``failed``; ``elapsed`` is seconds since the
    request began (retries included). ``usage``: what the request consumed, when the service
    said (an LLM's ``input_tokens`` and ``output_tokens``)."""

    service: str
    kind: str
    stage: Literal["first_result", "done", "failed"]
    elapsed: float
    usage: Mapping[str, int] = field(default_factory=dict)


Observer = Callable[[ProviderTiming], None]


class Provider:
    """What every provider shares: a kind, a name, timeouts, retries, stats, observers of its
    timings (the one place timings come from: metrics, and later tracing) and ``aclose``."""

    kind: ClassVar[str] = "provider"
    provider_name: str = "custom"
    # seconds a request may take before its first result on top of a session's stall timeout
    # (a local model reading a long prompt on a busy CPU is slow, not stalled)
    stall_grace: float = 0.0

    def __init__(self, *, timeout: float = 30.0, max_retries: int = 2, retry_delay: float = 0.25):
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.stats = ProviderStats()
        self.observers: list[Observer] = []

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer`` with every ``ProviderTiming``; returns its remover."""
        self.observers.append(observer)
        return lambda: self.observers.remove(observer) if observer in self.observers else None

    def _report(
        self,
        stage: Literal["first_result", "done", "failed"],
        started: float,
        usage: Mapping[str, int] | None = None,
    ) -> None:
        if not self.observers:
            return
        elapsed = time.perf_counter() - started
        timing = ProviderTiming(self.service, self.kind, stage, elapsed, dict(usage or {}))
        for observer in list(self.observers):
            try:
                observer(timing)
            except Exception:  # noqa: BLE001 - an observer must not break a request
                log.exception("provider observer failed")

    @property
    def service(self) -> str:
        return f"{self.kind} {self.provider_name}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.provider_name}>"

    async def aclose(self) -> None:
        """Release clients and models. Idempotent."""

    def _wrap(self, exc: BaseException) -> LkxError:
        if isinstance(exc, LkxError):
            return exc
        if isinstance(exc, TimeoutError):
            return OperationTimeoutError(self.service, self.timeout)
        return ExternalServiceError(self.service, f"{type(exc).__name__}: {exc}".splitlines()[0])

    def _delay(self, attempt: int, error: LkxError) -> float:
        after: float | None = getattr(error, "retry_after", None)
        if after is not None:
            return min(float(after), 30.0)
        return self.retry_delay * (2.0**attempt) * (0.5 + random.random())

    @staticmethod
    def _retryable(error: LkxError) -> bool:
        return isinstance(error, OperationTimeoutError) or bool(getattr(error, "retryable", False))

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run one request with the timeout, retrying retryable failures with backoff."""
        self.stats.calls += 1
        started = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            try:
                async with asyncio.timeout(self.timeout):
                    result = await make()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified just below
                error = self._wrap(exc)
                if attempt < self.max_retries and self._retryable(error):
                    self.stats.retries += 1
                    log.info("provider call failed, retrying", extra={"service": self.service})
                    await asyncio.sleep(self._delay(attempt, error))
                    continue
                self.stats.errors += 1
                self._report("failed", started)
                raise error from exc
            self.stats.last_duration = time.perf_counter() - started
            self._report("done", started)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _usage(self, item: object, usage: dict[str, int]) -> None:  # noqa: B027 - optional
        """Add what a streamed item says the request consumed to ``usage``."""

    async def _stream(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """Stream items with a per-item timeout; retry only before the first item arrived."""
        self.stats.calls += 1
        started = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            produced = False
            usage: dict[str, int] = {}
            stream = make()
            try:
                while True:
                    try:
                        # asyncio.timeout, not wait_for: wait_for can swallow a cancellation
                        # (an interruption) that lands as the item arrives (Python 3.11)
                        async with asyncio.timeout(self.timeout):
                            item = await anext(stream)
                    except StopAsyncIteration:
                        self.stats.last_duration = time.perf_counter() - started
                        self._report("done", started, usage)
                        return
                    if not produced:
                        produced = True
                        self.stats.last_first_result = time.perf_counter() - started
                        self._report("first_result", started)
                    self._usage(item, usage)
                    yield item
            except asyncio.CancelledError:
                raise
            except GeneratorExit:
                raise
            except Exception as exc:  # noqa: BLE001 - classified just below
                error = self._wrap(exc)
                if not produced and attempt < self.max_retries and self._retryable(error):
                    self.stats.retries += 1
                    log.info("provider stream failed, retrying", extra={"service": self.service})
                    await asyncio.sleep(self._delay(attempt, error))
                    continue
                self.stats.errors += 1
                self._report("failed", started)
                raise error from exc
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call the LLM asked for."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """A piece of an LLM reply: some text, or one complete tool call; or, with neither, the
    request's token counts (``usage``: ``input_tokens``, ``output_tokens``) when the server
    reports them."""

    text: str = ""
    tool_call: ToolCall | None = None
    completion_tokens: int = 0
    request_id: str = ""  # the server's id of the request, sent with an empty completion
    usage: Mapping[str, int] | None = None


class LLM(Provider):
    kind = "llm"

    def chat(
        self,
        *,
        messages: list[ChatMessage],
        tools: list[FunctionTool] | None = None,
        tool_choice: str | None = None,
    ) -> AsyncIterator[ChatDelta]:
        """Stream a reply to ``messages`` (OpenAI chat format), offering ``tools``."""
        return self._stream(lambda: self._chat_impl(messages, tools or [], tool_choice))

    async def prepare(self, *, messages: list[ChatMessage], tools: list[FunctionTool]) -> None:
        """Do now, ahead of the first request, the work that request would begin with (a local
        model reads the instructions and the tool descriptions into its prompt cache). Nothing
        for a remote service."""
        return None

    def _usage(self, item: object, usage: dict[str, int]) -> None:
        if isinstance(item, ChatDelta) and item.usage:
            usage.update(item.usage)

    @abstractmethod
    def _chat_impl(
        self, messages: list[ChatMessage], tools: list[FunctionTool], tool_choice: str | None
    ) -> AsyncIterator[ChatDelta]: ...


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str | None = None


class STT(Provider):
    kind = "stt"
    sample_rate: int = 16_000

    async def transcribe(self, audio: AudioChunk, *, language: str | None = None) -> Transcript:
        """Transcribe one utterance (mono, at ``self.sample_rate``)."""
        return await self._call(lambda: self._transcribe_impl(audio, language))

    @abstractmethod
    async def _transcribe_impl(self, audio: AudioChunk, language: str | None) -> Transcript: ...


class TTS(Provider):
    kind = "tts"
    sample_rate: int = 24_000

    def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        """Stream speech for ``text`` as mono chunks at ``self.sample_rate``."""
        return self._stream(lambda: self._synthesize_impl(text))

    @abstractmethod
    def _synthesize_impl(self, text: str) -> AsyncIterator[AudioChunk]: ...


class VAD(Provider):
    """Speech probability per fixed-size frame. Turn logic lives in the session, not here."""

    kind = "vad"
    sample_rate: int = 16_000
    frame_samples: int = 512

    def speech_probability(self, frame: Int16Array) -> float:
        """Probability in [0, 1] that ``frame`` (``frame_samples`` mono samples) is speech."""
        started = time.perf_counter()
        self.stats.calls += 1
        probability = self._probability_impl(frame)
        self.stats.last_duration = time.perf_counter() - started
        return probability

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget the stream state (between unrelated audio streams)."""

    @abstractmethod
    def _probability_impl(self, frame: Int16Array) -> float: ...
