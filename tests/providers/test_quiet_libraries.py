"""Libraries' warnings belong in the log, not in a conversation: piper's phonemizer warns on
most punctuation through the root logger, and lkx keeps that out."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("piper_onnx", reason="needs the local extra")

from livekitex_cli.providers.local.piper import PiperTTS  # noqa: E402

TEXT = "It is 9 o'clock in the morning."  # a number spoken as words: a mismatch


async def test_piper_speaks_without_phonemizer_warnings(caplog: pytest.LogCaptureFixture) -> None:
    tts = PiperTTS()
    with caplog.at_level(logging.DEBUG):
        seconds = sum([chunk.duration async for chunk in tts.synthesize(TEXT)])
    await tts.aclose()
    assert seconds > 0.5
    assert [r.getMessage() for r in caplog.records if r.name.startswith("phonemizer")] == []
