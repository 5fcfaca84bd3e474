"""The scripted OpenAI-compatible server leaves no socket open when it closes.

A connection the kernel had accepted when the server closed used to be left open; collected
later, it raised a ResourceWarning inside whichever test ran then (a red CI run did so in
tests/test_preflight.py). Before the fix about 9 closes in 10 left one here."""

from __future__ import annotations

import gc
import socket
import sys

import pytest

from livekitex_cli.testing import ScriptedOpenAI


def test_closing_with_a_connection_just_made_leaves_no_socket_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value)))
    for _ in range(20):
        with ScriptedOpenAI.in_thread() as server:
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        gc.collect()
    assert unraisable == []
