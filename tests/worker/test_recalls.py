"""The recall's budget per room: at most ``limit`` within ``window``, and rooms whose window
has passed are forgotten (a worker runs for months through many rooms)."""

from __future__ import annotations

import pytest

from livekitex_cli.worker import recall
from livekitex_cli.worker.recall import Recalls


def test_budget_per_room_and_old_rooms_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(recall.time, "monotonic", lambda: now[0])
    budget = Recalls(limit=2, window=600.0)
    assert budget.take("a") and budget.take("a")
    assert not budget.take("a")  # a third within 10 minutes: no
    assert budget.take("b")
    now[0] += 601.0  # past the window of both
    assert budget.take("c")
    assert set(budget._times) == {"c"}  # "a" and "b" kept no key
    assert budget.take("a")  # and "a" has its budget again
