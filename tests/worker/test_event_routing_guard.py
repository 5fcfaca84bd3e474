"""The event-routing shim touches ``livekit.rtc``'s private queue only where that is safe: on
the livekit versions it was checked against, with the queue's expected shape, and never with
``LKX_EVENT_ROUTING=off``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from livekitex_cli.worker import event_routing

PROBE = (
    "from livekit.rtc._ffi_client import FfiClient, FfiQueue\n"
    "from livekitex_cli.worker.event_routing import install_batched_delivery\n"
    "installed = install_batched_delivery()\n"
    "print(installed, type(FfiClient.instance._queue) is FfiQueue, flush=True)\n"
    # livekit 1.2.1's native runtime panics now and then when a process exits right after its
    # client started ('panic in a function that cannot unwind', abort): leave without it
    "import os; os._exit(0)\n"
)


def probe(**env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
        env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_installs_on_the_verified_version() -> None:
    assert probe() == "True False"


def test_off_switch_leaves_the_library_alone() -> None:
    assert probe(LKX_EVENT_ROUTING="off") == "False True"


@pytest.mark.parametrize(("found", "expected"), [("1.2.1", True), ("1.2.9", True), ("1.0.3", False), ("1.3.0", False), ("2.0.0", False)])  # fmt: skip
def test_only_verified_versions(
    monkeypatch: pytest.MonkeyPatch, found: str, expected: bool
) -> None:
    monkeypatch.setattr(event_routing, "version", lambda _: found)
    monkeypatch.delenv("LKX_EVENT_ROUTING", raising=False)
    assert event_routing.enabled() is expected


def test_unexpected_subscriber_shape_is_refused() -> None:
    class Queue:
        def __init__(self, subscribers: list[object]) -> None:
            self._lock = object()
            self._subscribers = subscribers

    loop = asyncio.new_event_loop()
    try:
        assert event_routing._has_subscriber_shape(Queue([(object(), loop, None)]))
        assert not event_routing._has_subscriber_shape(Queue([(object(), loop)]))
        assert not event_routing._has_subscriber_shape(Queue([(object(), "loop", None)]))
    finally:
        loop.close()
