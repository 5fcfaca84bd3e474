"""``lkx console``: talk to an agent in the terminal, no LiveKit server needed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from livekitex_cli.cli.logs import LogFormat, LogLevel, LogLevelOption, setup_logging
from livekitex_cli.cli.output import console, err_console, fail
from livekitex_cli.errors import LkxError, ValidationError


def console_command(
    agent_file: Annotated[Path, typer.Argument(help="The agent's YAML file.")],
    audio_in: Annotated[
        Path | None, typer.Option("--audio-in", help="Push this WAV through the audio pipeline.")
    ] = None,
    audio_out: Annotated[
        Path | None, typer.Option("--audio-out", help="Write what the agent said to this WAV.")
    ] = None,
    message: Annotated[
        list[str] | None,
        typer.Option("--message", "-m", help="Send this text and exit (repeatable)."),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="A per-call variable, NAME=VALUE (repeatable)."),
    ] = None,
    trace_turns: Annotated[
        bool,
        typer.Option(
            "--trace-turns",
            help="Print each spoken turn's timeline: end-of-turn and interruption decisions.",
        ),
    ] = False,
    log_level: LogLevelOption = LogLevel.warning,
) -> None:
    """Chat with an agent: typed text in, streamed reply out, tool calls shown."""
    _Renderer.trace_turns = trace_turns
    from livekitex_cli.agent import Agent
    from livekitex_cli.session.handoff import resolve_handoffs
    from livekitex_cli.tracing import setup as setup_tracing

    setup_logging(log_level, LogFormat.auto)
    try:
        setup_tracing()  # OTEL_*: a missing extra is an error before anything runs
        agent = Agent.from_yaml(agent_file)
        resolve_handoffs([agent])
        variables = dict(_pair(item) for item in var or [])
        asyncio.run(_run(agent, audio_in, audio_out, message or [], variables))
    except LkxError as exc:
        fail(exc)


class _Renderer:
    trace_turns = False  # set by each console command

    def __init__(self) -> None:
        self.in_reply = False  # a reply's text is being printed, on the current line
        self.streamed = False  # some of the reply under way has been printed
        self.frames: list[Any] = []

    def __call__(self, event: Any) -> None:
        kind = event.type
        if kind == "agent_text":
            if not self.in_reply:
                console.print("[bold magenta]agent>[/] ", end="")
                self.in_reply = self.streamed = True
            console.print(event.text, end="", markup=False)
        elif kind == "agent_reply":
            if self.in_reply:
                console.print()
            elif event.text and not self.streamed:  # (a turn's trace may have come between)
                console.print(f"[bold magenta]agent>[/] {event.text}", markup=True)
            if event.interrupted:
                console.print("[dim](interrupted)[/]")
            self.in_reply = self.streamed = False
        elif kind == "user_transcript":
            console.print(f"[bold cyan]you (spoken)>[/] {event.text}")
        elif kind == "tool_call_started":
            self._break()
            console.print(f"[dim]  -> {event.name}({event.arguments})[/]", markup=True)
        elif kind == "tool_call_finished":
            shown = event.output if len(event.output) < 200 else event.output[:200] + "..."
            style = "red" if event.error else "dim"
            console.print(f"[{style}]  <- {event.name}: {shown}[/]", markup=True)
        elif kind == "error":
            self._break()
            err_console.print(f"[red]error:[/] {event.message}")
        elif kind == "agent_audio":
            self.frames.append(event.frame)
        elif kind == "turn" and self.trace_turns:
            self._break()
            title = f"turn {event.turn_id or '-'} ({event.closed})"
            console.print(title, style="dim", markup=False, highlight=False)
            for step in event.steps:
                line = f"  {step['at_ms']:>7.0f} ms  {step['step']:<16} {step['detail']}"
                console.print(line, style="dim", markup=False, highlight=False)

    def _break(self) -> None:
        if self.in_reply:
            console.print()
            self.in_reply = False


def _pair(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise ValidationError("--var", f"'{item}' is not NAME=VALUE")
    return name.strip(), value


async def _run(
    agent: Any,
    audio_in: Path | None,
    audio_out: Path | None,
    messages: list[str],
    variables: dict[str, str],
) -> None:
    from livekitex_cli.tracing import traced

    with traced("console session", {"lkx.agent": agent.name, "lkx.room": "console"}):
        await _converse(agent, audio_in, audio_out, messages, variables)


async def _converse(
    agent: Any,
    audio_in: Path | None,
    audio_out: Path | None,
    messages: list[str],
    variables: dict[str, str],
) -> None:
    from livekitex_cli.providers.audio import read_wav, write_wav
    from livekitex_cli.session import AgentSession, PacedOutput

    renderer = _Renderer()
    wav = read_wav(str(audio_in)) if audio_in else None
    session = AgentSession(
        agent=agent,
        event_callbacks={"*": renderer},
        user_data={"room": "console"},
        audio_output=PacedOutput(realtime=False),
        speak=audio_out is not None,
    )
    if agent.spec.variables:
        from livekitex_cli.session.variables import fill_session

        fill_session(session, [("--var", variables)])
    kind = "voice" if agent.spec.is_voice else "text"
    console.print(f"[bold]{agent.name}[/] ({kind}) - llm: {session.llm!r}", highlight=False)
    try:
        await session.start()
        # a file plays as speech would: what its first turn needs is loaded before it starts
        warm = [session.activity.warm_up()] if wav is not None else []
        await asyncio.gather(session.wait_idle(120), *warm)
        if wav is not None:
            # a pause judged by the STT or a model takes time: the file then plays as a
            # microphone would, in real time (silence alone is judged as fast as it is read)
            paced = session.activity.turn.detection != "vad"
            step, begun = wav.sample_rate // 50 * 2 * wav.channels, time.monotonic()
            for start in range(0, len(wav.data), step):
                await session.process_audio(
                    wav.data[start : start + step],
                    sample_rate=wav.sample_rate,
                    channels=wav.channels,
                )
                if paced:
                    played = (start + step) / (2 * wav.channels * wav.sample_rate)
                    await asyncio.sleep(max(0.0, begun + played - time.monotonic()))
            await session.end_audio()
            await session.wait_idle(300)
        for text in messages:
            console.print(f"[bold cyan]you>[/] {text}")
            await session.process_text(text)
            await session.wait_idle(300)
        if wav is None and not messages:
            await _interactive(session)
    finally:
        await session.aclose()
    if audio_out is not None:
        seconds = write_wav(str(audio_out), renderer.frames, sample_rate=session.output_sample_rate)
        console.print(f"[dim]wrote {seconds:.1f} s of agent audio to {audio_out}[/]")


async def _interactive(session: Any) -> None:
    console.print("[dim]Type a message; Ctrl-D or 'exit' to quit.[/]")
    while True:
        try:
            text = await _read_line("you> ")
        except EOFError:
            console.print()
            return
        if text.strip().lower() in ("exit", "quit"):
            return
        if text.strip():
            await session.process_text(text)
            await session.wait_idle(300)


async def _read_line(prompt: str) -> str:
    """``input()`` off the loop in a daemon thread: on Ctrl-C the loop ends at once, where a
    thread of the default executor would keep ``asyncio.run`` waiting for the next line."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def settle(text: str | None, error: BaseException | None) -> None:
        if not line.done():
            line.set_exception(error) if error is not None else line.set_result(text or "")

    def read() -> None:
        try:
            text, error = input(prompt), None
        except BaseException as exc:  # noqa: BLE001 - EOFError and friends go to the awaiter
            text, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, text, error)

    threading.Thread(target=read, name="lkx-console-input", daemon=True).start()
    return await line
