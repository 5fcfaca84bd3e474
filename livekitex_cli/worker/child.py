"""One ``lkx start`` child process with its own health port on 127.0.0.1: what both
supervisors run (``lkx dev``'s reloader and ``lkx start --workers N``). The parent reads the
child only over HTTP, so it never imports agent code."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from livekitex_cli.errors import ExitCode, LkxError

if TYPE_CHECKING:
    from livekitex_cli.worker.reload import Spare

PR_SET_PDEATHSIG = 1  # linux/prctl.h
# set in the environment of a process a supervisor starts: it leaves SIGINT to the supervisor
SUPERVISED_ENV = "LKX_SUPERVISED"


def die_with_parent() -> None:
    """Run in a child before it starts (``preexec_fn``): on Linux the child gets SIGTERM (and
    drains) when the process that started it dies, even by SIGKILL, so a killed supervisor
    leaves no worker or server behind. Elsewhere it does nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def supervised() -> None:
    """``preexec_fn`` of a process a supervisor starts and stops (``lkx dev``'s workers and
    spare, ``lkx start --workers N``'s processes): it dies with its parent, and it ignores
    SIGINT until it installs its own handler. Ctrl-C in a terminal reaches the whole process
    group; the supervisor answers it by draining its children with SIGTERM, and a child still
    importing would otherwise die of ``KeyboardInterrupt`` with a traceback. An ignored
    SIGINT survives ``exec``, and Python keeps it ignored."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def supervised_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) for a supervised child. Its SIGINT disposition
    cannot say so: a command started in the background of a script has SIGINT ignored too."""
    return {**(os.environ if env is None else env), SUPERVISED_ENV: "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """One ``lkx start`` process with its own health port."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, warm: bool) -> None:
        self.process = process
        self.port = port
        self.warm = warm  # a spare that had lkx imported already

    @classmethod
    async def start(
        cls,
        paths: Sequence[str],
        args: Sequence[str],
        spare: Spare | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> Child:
        """``env``: the child's whole environment (default: this process's)."""
        port = free_port()
        command = [*paths, *args, "--health-port", str(port)]
        if spare is not None and await spare.hand(command):
            return cls(spare.process, port, warm=True)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livekitex_cli", "start", *command,
            env=supervised_env(env), preexec_fn=supervised,
        )  # fmt: skip
        return cls(process, port, warm=False)

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def get(self, path: str) -> tuple[int, Any] | None:
        """``GET path`` on the child's health port: (status, JSON or text); None if it does not
        answer. Blocking: call it through ``asyncio.to_thread``."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                status, body = int(answer.status), answer.read().decode()
        except urllib.error.HTTPError as err:
            status, body = int(err.code), err.read().decode()
            err.close()
        except OSError:
            return None
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def healthy(self) -> bool:
        answer = self.get("/health")
        return answer is not None and answer[0] == 200

    async def state(self) -> dict[str, Any] | None:
        """The child's ``/worker`` JSON, or None if it does not answer."""
        answer = await asyncio.to_thread(self.get, "/worker")
        if answer is None or answer[0] != 200 or not isinstance(answer[1], dict):
            return None
        return answer[1]

    async def wait_ready(self, timeout: float, stop: asyncio.Event | None = None) -> bool:
        """Whether it registered within ``timeout``; ``False`` at once if ``stop`` is set."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.returncode is None:
            if stop is not None and stop.is_set():
                return False
            if await asyncio.to_thread(self.healthy):
                return True
            await asyncio.sleep(0.05)
        return False

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.process.returncode is None:
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:  # exited, not reaped yet
                pass

    async def drain(self) -> None:
        self.signal(signal.SIGTERM)
        await self.process.wait()


class ChildFailed(LkxError):
    """A worker process could not start for a reason a retry cannot mend; it said why."""

    def __init__(self, code: int) -> None:
        self.exit_code = ExitCode(code) if code in {int(c) for c in ExitCode} else ExitCode.INTERNAL
        super().__init__(f"the worker could not start (exit {code}); see the line above")
