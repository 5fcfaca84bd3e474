"""The real LiveKit server, ``lkx start`` and test participants for the faults suite. Marking
and counting fault tests is done for the whole suite by the root ``tests/conftest.py``."""

from __future__ import annotations

from tests.worker.conftest import join, livekit_api, livekit_server, start_worker  # noqa: F401
