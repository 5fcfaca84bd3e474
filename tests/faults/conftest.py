"""Every test under tests/faults/ carries the ``faults`` marker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.faults.tally import TALLY

FAULT_FILES = (
    "tests/faults/",
    "tests/session/test_provider_faults.py",
    "tests/session/test_voice.py",
    "tests/worker/test_protocol_fake.py",
    "tests/worker/test_worker_live.py",
)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and any(part in report.nodeid for part in FAULT_FILES):
        TALLY["fault tests run"] += 1
        TALLY["fault tests survived" if report.passed else "fault tests failed"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY:
        terminalreporter.write_line("faults summary: " + json.dumps(dict(sorted(TALLY.items()))))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.faults)


from tests.worker.conftest import join, livekit_api, livekit_server, start_worker  # noqa: E402, F401
