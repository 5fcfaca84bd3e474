"""Ctrl-C in a terminal reaches every process of the group: a worker or spare that ``lkx dev``
(or ``lkx start --workers N``) started is stopped by its supervisor, not by that SIGINT, and
one still importing must not die of it with a traceback (a CI run saw exactly that)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livekitex_cli.worker.child import supervised
from livekitex_cli.worker.reload import Spare


@pytest.fixture(autouse=True)
def sigint_default() -> Iterator[None]:
    """Children start with SIGINT at its default, as from a terminal: a suite run in the
    background (``cmd &`` in a script) has SIGINT ignored, and every child would inherit that
    whatever ``supervised`` does."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def interrupt_while_starting(pid: int, seconds: float = 1.5) -> None:
    """SIGINT every 20 ms through interpreter start and imports."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:  # it has ended
            return
        time.sleep(0.02)


async def test_a_spare_outlives_ctrl_c_and_ends_when_its_supervisor_says() -> None:
    spare = await Spare.start()
    await asyncio.to_thread(interrupt_while_starting, spare.process.pid)
    assert spare.process.returncode is None  # still there: SIGINT was not for it
    await spare.discard()  # end of input
    assert spare.process.returncode == 0


def test_a_supervised_worker_ignores_ctrl_c_while_it_starts(tmp_path: Path) -> None:
    agent = tmp_path / "broken.yaml"
    agent.write_text("name: broken\ninstruction: no such field\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "livekitex_cli", "start", str(agent)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=supervised,
    )  # fmt: skip
    interrupt_while_starting(process.pid, seconds=1.0)
    output = process.communicate(timeout=60)[0].decode()
    # it ran to its own verdict on the file: exit 1 and the one-line error, no traceback
    assert process.returncode == 1, output
    assert "did you mean 'instructions'" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output


def test_supervised_leaves_sigint_ignored_in_the_child() -> None:
    script = "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"
    plain = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, preexec_fn=supervised
    )
    assert (plain.stdout.strip(), child.stdout.strip()) == ("False", "True")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the parent's own
