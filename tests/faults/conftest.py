"""Every test under tests/faults/ carries the ``faults`` marker."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.faults)


from tests.worker.conftest import join, livekit_api, livekit_server, start_worker  # noqa: E402, F401
