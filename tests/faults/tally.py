"""Counts the faults suite reports at the end of a run (see conftest.py)."""

from __future__ import annotations

from collections import Counter

TALLY: Counter[str] = Counter()
