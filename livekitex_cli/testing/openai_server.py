"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

Chat completions answer from a script of steps (text, tool calls, faults); with no script they
echo: ``You said: <last user message>``. Asked for usage, a stream ends with token counts
(words in, chunks out). A user message ``call NAME {json}`` makes the echo
model call that tool once, then echo the tool's result. Transcriptions return ``transcript``
(or the next scripted one); speech returns a 24 kHz PCM tone whose length follows the text, or
what ``voice`` makes of the text (real speech, for tests that need it).
"""

from __future__ import annotations

import array
import asyncio
import io
import json
import math
import re
import struct
import threading
import wave
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from livekitex_cli.testing.steps import (
    Empty,
    Hang,
    Malformed,
    Reset,
    Status,
    Step,
    Text,
    ToolCalls,
    Truncated,
)

__all__ = ["ScriptedOpenAI", "tone", "Empty", "Hang", "Malformed", "Reset", "Status", "Step",
           "Text", "ToolCalls", "Truncated"]  # fmt: skip


_CALL = re.compile(r"^call (\w+)\s*(\{.*\})?\s*$", re.S)


class ScriptedOpenAI:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.chat_script: deque[Step] = deque()
        self.stt_script: deque[str | Status | Hang] = deque()
        self.tts_script: deque[Status | Hang] = deque()
        self.transcript = "hello"
        self.seconds_per_char = 0.03
        self.voice: Callable[[str], bytes] | None = None  # text -> 24 kHz PCM, for the tone
        self.chat_requests: list[dict[str, Any]] = []
        self.stt_audio: list[Heard] = []  # what each transcription request carried
        self.tts_requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self._calls = 0

    @property
    def stt_requests(self) -> int:
        return len(self.stt_audio)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.base_url

    async def close(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        await asyncio.sleep(0.05)  # why: livekitex_cli.tasks.close_web_runner (testing is apart)
        await runner.cleanup()

    async def __aenter__(self) -> ScriptedOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @classmethod
    @contextmanager
    def in_thread(cls) -> Iterator[ScriptedOpenAI]:
        """A server running in its own thread and event loop, for code that runs its own loop
        (CLI runs, subprocesses, benchmarks)."""
        server = cls()
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(server.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, name="scripted-openai", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the scripted OpenAI server did not start")
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    def push(self, *steps: Step) -> None:
        self.chat_script.extend(steps)

    # chat ----------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.chat_requests.append(body)
        request_id = f"req_scripted_{len(self.chat_requests)}"
        step = self.chat_script.popleft() if self.chat_script else self._echo(body)
        if isinstance(step, Hang):
            await self._hang(step)
            step = Text("Sorry, I was asleep.")
        if isinstance(step, Status):
            payload = {"error": {"message": step.message, "type": "scripted", "code": step.code}}
            return web.json_response(payload, status=step.code, headers=step.headers)
        if not body.get("stream"):
            return web.json_response(self._whole(step))
        headers = {"Content-Type": "text/event-stream", "x-request-id": request_id}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        chunks = self._chunks(step)
        for index, chunk in enumerate(chunks):
            if isinstance(step, Reset) and index == step.after_chunks:
                assert request.transport is not None
                request.transport.abort()
                return response
            if isinstance(step, Malformed) and index == step.after_chunks:
                await response.write(b"data: {not json at all\n\n")
                continue
            if isinstance(step, Truncated) and index == step.after_chunks:
                await response.write(b'data: {"id": "x", "choices": [{"delta": {"con\n\n')
                return response
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if isinstance(step, Text) and step.delay:
                await asyncio.sleep(step.delay)
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = self._usage(body, len(chunks) - 1)  # the finish chunk is no token
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    @staticmethod
    async def _hang(step: Hang) -> None:
        if step.until is None:
            await asyncio.sleep(step.seconds)
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + step.seconds
        while loop.time() < end and not step.until.is_set():
            await asyncio.sleep(0.02)

    def _echo(self, body: dict[str, Any]) -> Step:
        messages = body.get("messages", [])
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            return Text(f"The tool said: {last.get('content', '')}")
        content = str(last.get("content") or "")
        match = _CALL.match(content.strip())
        if match and body.get("tools"):
            return ToolCalls([(match.group(1), match.group(2) or "{}")])
        return Text(f"You said: {content}")

    def _chunks(self, step: Step) -> list[dict[str, Any]]:
        if isinstance(step, ToolCalls):
            chunks = [self._delta({"content": step.text})] if step.text else []
            for index, (name, arguments) in enumerate(step.calls):
                self._calls += 1
                head = {"index": index, "id": f"call_{self._calls}", "type": "function",
                        "function": {"name": name, "arguments": ""}}  # fmt: skip
                chunks.append(self._delta({"tool_calls": [head]}))
                for start in range(0, len(arguments), 7):
                    piece = {
                        "index": index,
                        "function": {"arguments": arguments[start : start + 7]},
                    }
                    chunks.append(self._delta({"tool_calls": [piece]}))
            chunks.append(self._delta({}, finish="tool_calls"))
            return chunks
        if isinstance(step, Empty):
            return [self._delta({}, finish="stop")]
        text = step.text if isinstance(step, Text | Reset) else "Some words before the fault."
        size = step.chunk_chars if isinstance(step, Text) else 8
        chunks = [self._delta({"content": text[i : i + size]}) for i in range(0, len(text), size)]
        return [*chunks, self._delta({}, finish="stop")]

    def _usage(self, body: dict[str, Any], out: int) -> dict[str, Any]:
        """The last chunk when usage is asked for: words in, chunks out, as token counts."""
        words = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
        usage = {"prompt_tokens": words, "completion_tokens": out, "total_tokens": words + out}
        return {**self._delta({}), "choices": [], "usage": usage}

    @staticmethod
    def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _whole(self, step: Step) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        if isinstance(step, ToolCalls):
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in enumerate(step.calls)
            ]
        elif isinstance(step, Text):
            message["content"] = step.text
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }

    # audio ---------------------------------------------------------------------------------

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        self.stt_audio.append(heard(upload.file.read() if isinstance(upload, FileField) else b""))
        step = self.stt_script.popleft() if self.stt_script else self.transcript
        if isinstance(step, Hang):
            await self._hang(step)
            step = self.transcript
        if isinstance(step, Status):
            payload = {"error": {"message": step.message, "code": step.code}}
            return web.json_response(payload, status=step.code, headers=step.headers)
        return web.json_response({"text": step})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = str(body.get("input", ""))
        self.tts_requests.append(text)
        step = self.tts_script.popleft() if self.tts_script else None
        if isinstance(step, Hang):
            await self._hang(step)
        if isinstance(step, Status):
            payload = {"error": {"message": step.message, "code": step.code}}
            return web.json_response(payload, status=step.code, headers=step.headers)
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await response.prepare(request)
        voice = self.voice
        pcm = voice(text) if voice else tone(max(0.1, len(text) * self.seconds_per_char))
        for start in range(0, len(pcm), 4800):
            await response.write(pcm[start : start + 4800])
        return response


@dataclass(frozen=True)
class Heard:
    """The audio of one transcription request: its length and loudness, so a test can tell
    the speech it sent from silence (this server answers from its script, not the audio)."""

    seconds: float
    dbfs: float  # RMS level; -120.0 for digital silence or no audio


def heard(data: bytes) -> Heard:
    """``Heard`` of a WAV file (16-bit PCM, as lkx's OpenAI STT sends); empty if unreadable."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            frames = wav.readframes(wav.getnframes())
            rate = wav.getframerate()
    except (wave.Error, EOFError):
        return Heard(0.0, -120.0)
    samples = array.array("h", frames[: len(frames) // 2 * 2])
    rms = math.sqrt(math.fsum(x * x for x in samples) / len(samples)) if samples else 0.0
    level = 20 * math.log10(rms / 32768.0) if rms > 0 else -120.0
    return Heard(len(samples) / rate if rate else 0.0, max(-120.0, level))


def tone(seconds: float, *, sample_rate: int = 24_000, hz: float = 220.0) -> bytes:
    """A quiet sine tone as 16-bit PCM."""
    count = int(seconds * sample_rate)
    return struct.pack(
        f"<{count}h",
        *(int(8000 * math.sin(2 * math.pi * hz * i / sample_rate)) for i in range(count)),
    )
