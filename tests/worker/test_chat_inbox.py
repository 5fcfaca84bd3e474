"""A room's typed chat into its session, without a server: a real session on the scripted
OpenAI-compatible server, the inbox fed as the room's text streams would feed it."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from livekit import rtc

from livekitex_cli.testing import Hang, ScriptedOpenAI
from livekitex_cli.worker import chat_input
from livekitex_cli.worker.chat_input import MAX_PENDING, ChatInbox
from tests.session.conftest import openai_agent, openai_server, session_factory  # noqa: F401

WARNING = "older messages dropped"


async def held_inbox(
    server: ScriptedOpenAI, make_session: Any, release: threading.Event
) -> tuple[ChatInbox, Any, list[asyncio.Task[None]]]:
    """An inbox on a real session whose first LLM answer is held until ``release``, and the
    tasks it spawns."""
    server.push(Hang(30, until=release))
    session, _ = await make_session(openai_agent(llm={"timeout": 30}))
    tasks: list[asyncio.Task[None]] = []
    inbox = ChatInbox(
        session, room=rtc.Room(), spawn=lambda coro, name: tasks.append(asyncio.create_task(coro))
    )
    return inbox, session, tasks


async def test_one_burst_is_one_warning_however_many_turns_it_spans(
    openai_server: ScriptedOpenAI,  # noqa: F811
    session_factory: Any,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flood that overflows the queue before its first turn is handed over, and again while
    that turn runs (what a busy machine did to the chat-flood test): one warning, not two. A
    flood after a quiet spell is a new burst, with its own warning."""
    caplog.set_level(logging.WARNING, logger="livekitex")
    release = threading.Event()
    inbox, session, tasks = await held_inbox(openai_server, session_factory, release)
    for index in range(MAX_PENDING + 5):  # all before the first turn is handed over
        inbox.submit(f"first {index}")
    async with asyncio.timeout(10):
        while not openai_server.chat_requests:  # the newest of them, held by the LLM
            await asyncio.sleep(0.01)
    for index in range(MAX_PENDING + 5):
        inbox.submit(f"second {index}")
    assert caplog.text.count(WARNING) == 1
    assert session.stats.chat_dropped == 10

    monkeypatch.setattr(chat_input, "BURST_GAP", 0.05)
    await asyncio.sleep(0.1)  # a quiet spell longer than the gap
    inbox.submit("third")  # the queue is full: the oldest gives way, a new burst begins
    assert caplog.text.count(WARNING) == 2
    release.set()
    async with asyncio.timeout(10):  # the held turn answered, then the waiting messages' turn
        while len(openai_server.chat_requests) < 2:
            await asyncio.sleep(0.01)
    await session.wait_idle(10)
    last = openai_server.chat_requests[-1]["messages"][-1]["content"].splitlines()
    assert len(last) == MAX_PENDING and last[-1] == "third"
    await asyncio.gather(*tasks)


async def test_waiting_messages_go_in_the_order_their_sender_sent_them(
    openai_server: ScriptedOpenAI,  # noqa: F811
    session_factory: Any,  # noqa: F811
) -> None:
    """Messages waiting for a turn are joined by the time their sender stamped on them, not
    the order they came in."""
    release = threading.Event()
    inbox, session, tasks = await held_inbox(openai_server, session_factory, release)
    inbox.submit("held", sent_at=1_000)
    async with asyncio.timeout(10):
        while not openai_server.chat_requests:
            await asyncio.sleep(0.01)
    for text, sent_at in [("says 2", 4_000), ("says 1", 3_000), ("is done", 5_000)]:
        inbox.submit(text, sent_at=sent_at)
    inbox.submit("says 0", sent_at=2_000)
    inbox.submit("no stamp")  # where it came
    release.set()
    async with asyncio.timeout(10):
        while len(openai_server.chat_requests) < 2:
            await asyncio.sleep(0.01)
    await session.wait_idle(10)
    last = openai_server.chat_requests[-1]["messages"][-1]["content"].splitlines()
    assert last == ["says 0", "says 1", "says 2", "is done", "no stamp"]
    await asyncio.gather(*tasks)
