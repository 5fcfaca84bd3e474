"""The echo path judged from levels alone: the agent's voice and the microphone, 10 ms a frame.
The voice here is a syllable-like course of levels (bursts of 5-25 frames with short gaps), so
the cases are exact and need no audio."""

from __future__ import annotations

import numpy as np

from livekitex_cli.worker.echo_path import JUDGE_EVERY, EchoPath, level

NOISE = 10 ** (-62 / 20)  # the microphone's floor with nothing in it


def voice_course(frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out: list[float] = []
    while len(out) < frames:
        loud = 10 ** (rng.uniform(-30, -15) / 20)
        out += [loud * rng.uniform(0.6, 1.0) for _ in range(int(rng.integers(5, 25)))]
        out += [NOISE] * int(rng.integers(2, 10))
    return np.array(out[:frames])


def judged(far: np.ndarray, near: np.ndarray) -> list[bool | None]:
    path = EchoPath()
    seen = []
    for f, n in zip(far, near, strict=True):
        path.hear(float(n), float(f))
        seen.append(path.present)
    return seen


def delayed(course: np.ndarray, frames: int, gain_db: float) -> np.ndarray:
    late = np.concatenate([np.full(frames, NOISE), course[: course.size - frames]])
    return np.maximum(late * 10 ** (gain_db / 20), NOISE)


def test_nothing_is_judged_before_half_a_second_of_voice() -> None:
    far = voice_course(200, 1)
    seen = judged(far, delayed(far, 10, -10))
    assert set(seen[: JUDGE_EVERY - 1]) == {None}


def test_an_echo_is_found_at_any_lag_up_to_a_second() -> None:
    far = voice_course(300, 2)
    for lag in (0, 5, 20, 40, 50, 75, 100):
        for gain in (-6, -10, -20):
            seen = judged(far, delayed(far, lag, gain))
            assert seen[-1] is True, (lag, gain)
            if lag <= 50:  # later, the quiet microphone rules it out first (the next test)
                assert False not in seen, (lag, gain)


def test_a_quiet_microphone_has_no_echo() -> None:
    far = voice_course(300, 3)
    quiet = np.full(far.size, NOISE)
    assert judged(far, quiet)[-1] is False
    # a browser's cancelled echo: 40 dB down, below the floor of what could echo
    assert judged(far, delayed(far, 15, -45))[-1] is False


def test_the_user_talking_over_the_voice_proves_nothing() -> None:
    """Loud: an echo is not ruled out (one might be under the user's words; by chance the two
    courses may even look like one); once the user stops, the quiet microphone rules it out."""
    far = voice_course(400, 4)
    user = np.concatenate([voice_course(250, 5), np.full(150, NOISE)])
    seen = judged(far, user)
    assert False not in seen[:250] and seen[-1] is False


def test_an_echo_under_the_users_speech_is_not_ruled_out() -> None:
    """Both at once: the judgement that stood (an echo) is kept, or the echo confirmed."""
    far = voice_course(400, 6)
    echo = delayed(far, 15, -10)
    both = echo.copy()
    both[200:] = np.sqrt(echo[200:] ** 2 + voice_course(200, 7) ** 2)
    seen = judged(far, both)
    assert seen[150] is True and set(seen[200:]) == {True}


def test_each_span_of_the_voice_is_judged_on_its_own() -> None:
    far = voice_course(200, 8)
    path = EchoPath()
    for f in far:
        path.hear(NOISE, float(f))
    assert path.present is False
    path.restart()
    echo = delayed(far, 10, -10)
    for f, n in zip(far[:80], echo[:80], strict=True):  # two judgements running (0.75 s)
        path.hear(float(n), float(f))
    assert path.present is True


def test_an_echo_a_second_late_is_found_after_the_call_was_judged_to_have_none() -> None:
    """A call's first reply came back 1 s late through the real server: the microphone stayed
    quiet through the first second of the voice, and the call was judged to have no echo. The
    echo is then found (and ``expected`` covers it from that first finding: the guard holds it
    down) and confirmed by the next judgement."""
    far = voice_course(500, 9)
    near = delayed(far, 95, -10)
    path = EchoPath()
    seen, expected = [], []
    for f, n in zip(far, near, strict=True):
        path.hear(float(n), float(f))
        seen.append(path.present)
        expected.append(path.expected())
    assert seen[100] is False and seen[-1] is True
    assert path.echo is not None and path.echo[0] == 95
    assert round(path.echo[1], 2) == round(10 ** (-10 / 20), 2)  # its share of the voice
    found = next(index for index, value in enumerate(expected) if value > 0)
    assert found < seen.index(True)
    loud = near[found:] > 10 ** (-45 / 20)
    assert (np.array(expected[found:]) >= near[found:])[loud].all()  # never louder than expected


def test_nothing_is_expected_of_a_call_with_no_echo() -> None:
    far = voice_course(300, 10)
    path = EchoPath()
    for f, n in zip(far, delayed(far, 20, -10), strict=True):
        path.hear(float(n), float(f))
    assert path.present is True and path.expected() > 0
    path.restart()
    for f in far:  # headphones from now on
        path.hear(NOISE, float(f))
    assert path.present is False and path.echo is None and path.expected() == 0.0


def test_level_is_the_rms_of_pcm() -> None:
    tone = (np.sin(np.arange(480) / 480 * 2 * np.pi * 10) * 16384).astype(np.int16)
    assert abs(level(tone.tobytes()) - 0.5 / np.sqrt(2)) < 1e-3
    assert level(b"") == 0.0


def test_the_correlations_at_every_lag_are_pearsons_r() -> None:
    """All lags at once (a matrix product where the windows are whole) give what
    ``np.corrcoef`` gives lag by lag, at every length of the levels a call goes through."""
    from livekitex_cli.worker.echo_path import EVIDENCE, SEARCH, WINDOW, correlations

    far = voice_course(WINDOW + SEARCH, seed=3)
    near = np.roll(far, 20) * 0.3 + np.random.default_rng(4).uniform(0, 1e-4, far.size)
    near[50:60] = near[50]  # a flat stretch, and below a flat course: r 0
    for size in (1, EVIDENCE - 1, EVIDENCE, 77, WINDOW, WINDOW + 1, 150, WINDOW + SEARCH):
        f, n = far[:size], near[:size]
        count = min(WINDOW, size)
        expected = []
        for lag in range(SEARCH + 1):
            start = max(lag, size - count)
            a, b = f[start - lag : size - lag], n[start:]
            flat = b.size < EVIDENCE or a.std() == 0 or b.std() == 0
            expected.append(0.0 if flat else float(np.corrcoef(a, b)[0, 1]))
        assert np.allclose(correlations(f, n, count), expected, atol=1e-12), size
    assert max(correlations(far, near, WINDOW)) > 0.99  # the echo 20 frames late
    assert correlations(far, np.zeros(far.size), WINDOW) == [0.0] * (SEARCH + 1)  # silence
