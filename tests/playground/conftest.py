"""``lkx dev`` with its playground as a real subprocess, and Debian's chromium driving the page
through Node (tests/browser, installed by scripts/install-browser-tests.sh)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.livekit_server import livekit_server as livekit_server  # the fixture, offered here

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "browser" / "playground.mjs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def browser_missing() -> str:
    """Why the browser tests cannot run here, or ``""``."""
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (scripts/install-browser-tests.sh)"
    if shutil.which("node") is None:
        return "node is not installed (scripts/install-browser-tests.sh)"
    if not (DRIVER.parent / "node_modules" / "puppeteer-core").is_dir():
        return "tests/browser has no node_modules (scripts/install-browser-tests.sh)"
    return ""


needs_browser = pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "-")


class DevProcess:
    """``python -m livekitex_cli dev ...`` with its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "livekitex_cli", "dev", *args],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in (out := self.output()):
                return out
            if self.process.poll() is not None:
                raise AssertionError(f"lkx dev exited ({self.process.returncode}): {out[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(
            f"no {text!r} from lkx dev within {timeout} s: {self.output()[-3000:]}"
        )

    def playground_url(self) -> str:
        out = self.wait_for("playground at ")
        return out.split("playground at ", 1)[1].split()[0]

    def interrupt(self) -> None:
        """Ctrl-C, as in a terminal: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.interrupt()
        try:
            return self.process.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[Any]:
    runs: list[DevProcess] = []

    def start(folder: Path, *args: str, env: dict[str, str]) -> DevProcess:
        run = DevProcess(
            [str(folder), "--playground-port", "0", *args],
            env,
            tmp_path / f"dev{len(runs)}.log",
            folder,
        )
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def start_driver(config: dict[str, Any], tmp_path: Path) -> subprocess.Popen[str]:
    """The Node driver on ``config``, with a fresh browser profile."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    path = tmp_path / f"drive-{config['scenario']}.json"
    path.write_text(json.dumps({"chromium": CHROMIUM, "profile": profile, **config}))
    return subprocess.Popen(
        ["node", str(DRIVER), str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def driven(driver: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, Any]:
    """What the driver saw (its JSON line), once it is done."""
    try:
        out, err = driver.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        driver.kill()
        out, err = driver.communicate()
    lines = out.strip().splitlines()
    assert driver.returncode == 0 and lines, f"driver failed ({driver.returncode}): {err[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def drive(config: dict[str, Any], tmp_path: Path, timeout: float = 120.0) -> dict[str, Any]:
    """Run the Node driver with ``config`` to the end; its JSON."""
    return driven(start_driver(config, tmp_path), timeout)
