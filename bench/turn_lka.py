"""livekit-agents' own turn handling on the corpus of ``python -m bench turn_taking``.

The same paused sentences (one turn each: a second end of turn is premature) and complete
sentences (the end-of-turn delay) are written as WAVs with JSON labels, then
``bench/lka/turns.py`` plays each in real time into a real livekit-agents ``AgentSession`` in its
own virtual environment, once per configuration:

- ``default``: ``AgentSession(vad=silero.VAD.load(), stt=..., llm=...)`` as it comes, which in
  livekit-agents 1.8.9 means its local audio end-of-turn model ``turn-detector-v1-mini``
  (``livekit-local-inference``) with endpointing 0.3 s / 2.5 s
- ``vad``: the same with ``turn_detection="vad"``: Silero's end of speech, endpointing 0.5 s

The end-of-turn delay runs from the last speech frame as lkx's Silero VAD finds it (the
reference ``turn_taking`` measures from) to the commit; ``from_waveform`` from the last sample
louder than -50 dBFS; ``lka_reported`` is livekit-agents' own ``end_of_turn_delay``, from its
VAD's last speech. Real time: about 6 minutes per configuration, three cases at once.

Run: ``python -m bench turn_lka [--json FILE]`` (needs espeak-ng, the local extra and
livekit-agents' venv with ``livekit-plugins-silero``).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import LKA_VENV, ROOT, report
from bench.turn_taking import PAUSES, RATE, SPLIT, endpoint, percentile, silence
from bench.voices import VOICES, speak
from livekitex_cli.config.turn import LEGACY

CONFIGS = ("default", "vad")
LOUD = 100  # int16, about -50 dBFS: a louder sample is speech
# livekit-agents would pick its cloud turn detector or dev-mode extras under these
UNSET = ("LIVEKIT_REMOTE_EOT_URL", "LIVEKIT_DEV_MODE", "LIVEKIT_INFERENCE_URL")


async def corpus() -> list[tuple[dict[str, Any], np.ndarray]]:
    """turn_taking's paused and complete sentences with their labels."""
    from livekitex_cli.providers.local.silero import SileroVAD

    vad = SileroVAD()
    spoken: dict[tuple[str, str], np.ndarray] = {}

    async def say(text: str, voice: str) -> np.ndarray:
        if (text, voice) not in spoken:
            spoken[text, voice] = await speak(text, voice)
        return spoken[text, voice]

    cases: list[tuple[dict[str, Any], np.ndarray]] = []
    for a, b in SPLIT:
        for voice in VOICES:
            for pause in PAUSES:
                parts = [silence(0.3), await say(a, voice), silence(pause), await say(b, voice)]
                label = {"kind": "paused", "text": f"{a} {b}", "voice": voice, "pause_s": pause}
                cases.append((label, np.concatenate([*parts, silence(3.5)])))
            whole = [silence(0.3), await say(f"{a} {b}", voice), silence(3.5)]
            label = {"kind": "complete", "text": f"{a} {b}", "voice": voice}
            cases.append((label, np.concatenate(whole)))
    for label, audio in cases:
        label["loud_until_s"] = (int(np.nonzero(np.abs(audio) > LOUD)[0][-1]) + 1) / RATE
        ended, _ = await endpoint(vad, None, LEGACY, audio)
        label["last_speech_s"] = ended[-1].speech_end
    return cases


def write(cases: list[tuple[dict[str, Any], np.ndarray]], folder: Path) -> None:
    for number, (label, audio) in enumerate(cases):
        path = folder / f"{label['kind']}-{number:02d}"
        with wave.open(str(path.with_suffix(".wav")), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(audio.astype(np.int16).tobytes())
        path.with_suffix(".json").write_text(json.dumps(label))


async def play(config: str, folder: Path) -> list[dict[str, Any]]:
    """Every case played into livekit-agents under ``config``, as ``bench/lka/turns.py`` saw it."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    process = await asyncio.create_subprocess_exec(
        str(LKA_VENV / "bin/python"), str(ROOT / "bench/lka/turns.py"), config, str(folder),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"bench/lka/turns.py {config} exited with {process.returncode}")
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


def ended(case: dict[str, Any], *, early: bool) -> list[dict[str, Any]]:
    """The case's commits before its last speech frame (``early``) or after it."""
    return [t for t in case["turns"] if (t["after_start_s"] < case["last_speech_s"]) == early]


def summary(played: list[dict[str, Any]]) -> dict[str, Any]:
    paused = [case for case in played if case["kind"] == "paused"]
    complete = [case for case in played if case["kind"] == "complete"]
    delays, waveform, reported = [], [], []
    for case in complete:
        if after := ended(case, early=False):
            delays.append((after[0]["after_start_s"] - case["last_speech_s"]) * 1000)
            waveform.append((after[0]["after_start_s"] - case["loud_until_s"]) * 1000)
            if after[0]["lka_end_of_turn_delay_s"] is not None:
                reported.append(after[0]["lka_end_of_turn_delay_s"] * 1000)
    by_pause = {
        f"{pause}s": sum(bool(ended(c, early=True)) for c in paused if c["pause_s"] == pause)
        for pause in PAUSES
    }
    return {
        "turn_detection": played[0]["turn_detection"],
        # a commit while the user had more to say
        "premature_end_of_turn": f"{sum(bool(ended(c, early=True)) for c in paused)}/{len(paused)}",
        "premature_by_pause": by_pause,
        "more_than_one_turn": f"{sum(len(c['turns']) > 1 for c in paused)}/{len(paused)}",
        "premature_in_complete": sum(bool(ended(c, early=True)) for c in complete),
        # a second commit after the end: a final transcript that came after the commit
        "extra_turn_after_the_end": sum(len(ended(c, early=False)) > 1 for c in played),
        "no_turn_after_the_end": sum(not ended(c, early=False) for c in played),
        "end_of_turn_ms_p50": round(statistics.median(delays)),
        "end_of_turn_ms_p95": round(percentile(delays, 95)),
        "from_waveform_ms_p50": round(statistics.median(waveform)),
        "from_waveform_ms_p95": round(percentile(waveform, 95)),
        "lka_reported_ms_p50": round(statistics.median(reported)) if reported else None,
        "lka_reported_ms_p95": round(percentile(reported, 95)) if reported else None,
        "frames_late_ms_max": round(max(c["late_ms_max"] for c in played)),
    }


async def run() -> dict[str, Any]:
    cases = await corpus()
    results: dict[str, Any] = {
        "cases": {kind: sum(c["kind"] == kind for c, _ in cases) for kind in ("paused", "complete")}
    }
    with tempfile.TemporaryDirectory() as name:
        write(cases, Path(name))
        for config in CONFIGS:
            played = await play(config, Path(name))
            results[config] = summary(played)
            results[config]["cases_detail"] = played
            print(config, {k: v for k, v in results[config].items() if k != "cases_detail"})
    return results


def main(argv: list[str] | None = None) -> None:
    report("turn_lka", argv, run)
