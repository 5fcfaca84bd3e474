"""The plain log format (``--log-format plain``, the default off a terminal) keeps the
fields a line carries: which room, which job, which way a judgement went."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest

from livekitex_cli.cli.logs import LogFormat, setup_logging


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], io.StringIO]]:
    """Installs the plain handler and returns what it writes; called inside the test: pytest
    swaps ``sys.stderr`` and puts the root level back between a fixture and its test."""

    def install() -> io.StringIO:
        stream = io.StringIO()
        monkeypatch.setattr("sys.stderr", stream)
        setup_logging("info", LogFormat.plain)
        return stream

    yield install
    root = logging.getLogger()
    root.handlers = [handler for handler in root.handlers if handler.name != "lkx"]


def test_a_plain_line_carries_its_fields(plain: Callable[[], io.StringIO]) -> None:
    written = plain()
    log = logging.getLogger("livekitex.worker")
    log.info("job started", extra={"room": "dev room", "job_id": "AJ_1", "jobs": 3, "ok": True})
    log.info("no fields")
    first, second = written.getvalue().splitlines()
    assert first.endswith(
        ' INFO livekitex.worker: job started room="dev room" job_id=AJ_1 jobs=3 ok=true'
    )
    assert second.endswith(" INFO livekitex.worker: no fields")


def test_a_traceback_stays_below_the_line_and_its_fields(
    plain: Callable[[], io.StringIO],
) -> None:
    written = plain()
    log = logging.getLogger("livekitex.worker")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("room task failed", extra={"room": "r1"})
    lines = written.getvalue().splitlines()
    assert lines[0].endswith("room task failed room=r1")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom"
