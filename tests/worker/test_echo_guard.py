"""The echo guard on real speech, without a room: the agent's voice coming back into the
user's microphone (-10 dB, 50 to 150 ms late, over low noise) is taken out before the VAD hears
it, and the user's own speech over that echo still comes through. The far end is queued ahead
of playout, as the room's audio source takes it, so these cases also check the alignment."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from livekitex_cli.providers import AudioChunk
from livekitex_cli.providers.energy import EnergyVAD, EnergyVADOptions
from livekitex_cli.session.audio_input import Resampler, SpeechStarted, TurnDetector
from livekitex_cli.session.speech import frames
from livekitex_cli.worker.echo_guard import EchoGuard
from tests.speech import echo_mix, needs_espeak, speech_chunk

pytestmark = needs_espeak
RATE = 48_000
AGENT = "Let me tell you a very long story about the weather in the mountains."
STEP = 2 * RATE // 100  # bytes of a 10 ms frame


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def speech_starts(
    mic: AudioChunk,
    voice: AudioChunk,
    *,
    echo_cancellation: bool,
    again: float | None = None,
    active: list[bool] | None = None,
    paths: list[bool | None] | None = None,
    voice_at: float = 0.0,
    arrival: Callable[[int], float] = lambda index: index / 100 + 0.001,
    per_call: int = 1,
) -> list[float]:
    """When the agent's VAD (energy, -35 dBFS, as the room tests use) hears speech in ``mic``
    cleaned by a guard that was told ``voice`` plays out from ``voice_at`` (and from ``again``
    s, if given), the microphone's 10 ms frame ``index`` reaching it at ``arrival(index)``;
    ``active`` gets the guard's ``echo_active`` at each frame, ``paths`` its judgement of the
    echo path; ``per_call``: frames handed to the guard at once (a room hands it 20 ms)."""
    clock = Clock()
    guard = EchoGuard(sample_rate=RATE, echo_cancellation=echo_cancellation, clock=clock)
    for start in (voice_at, again) if again is not None else (voice_at,):
        at = start
        for frame in frames(voice):  # all queued at once, a second ahead of playout and more
            guard.played(frame, at)
            at += frame.duration
    detector = TurnDetector(EnergyVAD(EnergyVADOptions(threshold_db=-35)), endpointing_delay=0.4)
    resampler = Resampler(detector.vad.sample_rate)
    starts: list[float] = []
    step = STEP * per_call
    for index, start in enumerate(range(0, len(mic.data) - step + 1, step)):
        clock.now = arrival((index + 1) * per_call - 1)  # when its last frame came
        cleaned = AudioChunk(guard.process(mic.data[start : start + step]), RATE, 1)
        if active is not None:
            active.extend([guard.echo_active] * per_call)
        if paths is not None:
            paths.extend([guard.path.present] * per_call)
        for event in detector.push(resampler.push(cleaned.to_array(), RATE)):
            if isinstance(event, SpeechStarted):
                starts.append(event.at)
    return starts


@pytest.mark.parametrize(("delay", "per_call"), [(0.05, 1), (0.15, 1), (0.15, 2)])
def test_the_agents_echo_is_not_heard_as_speech(delay: float, per_call: int) -> None:
    voice = speech_chunk(AGENT, RATE)
    mic = echo_mix(voice, delay=delay)
    assert speech_starts(mic, voice, echo_cancellation=True, per_call=per_call) == []
    # the same microphone without echo cancellation (noise suppression still on): the echo
    # is speech to the VAD, and would interrupt the agent
    assert speech_starts(mic, voice, echo_cancellation=False)


def test_the_user_speaking_over_the_echo_is_heard() -> None:
    voice = speech_chunk(AGENT, RATE)
    mic = echo_mix(voice, user=speech_chunk("Stop, tell me about trains.", RATE), user_at=2.0)
    starts = speech_starts(mic, voice, echo_cancellation=True)
    assert starts and 2.0 <= starts[0] <= 2.5, starts


@pytest.mark.parametrize("per_call", [1, 2])
def test_after_a_quiet_spell_the_echo_is_still_taken_out(per_call: int) -> None:
    """Between two replies no far end is fed (half the guard's calls), and the microphone's
    frames go to the module as many at once as it is handed; the canceller keeps the echo path
    it learnt, and the next reply's echo is not heard either."""
    voice = speech_chunk(AGENT, RATE)
    again = voice.duration + 4.0
    gap = AudioChunk(bytes(2 * int(4.0 * RATE)), RATE, 1)
    mic = echo_mix(AudioChunk(voice.data + gap.data + voice.data, RATE, 1), delay=0.1)
    active: list[bool] = []
    starts = speech_starts(
        mic, voice, echo_cancellation=True, again=again, active=active, per_call=per_call
    )
    assert starts == []
    # the far end was fed while the voice (and its echo tail) could be heard, and not between
    spell = active[int((voice.duration + 1.5) * 100) : int((again - 0.1) * 100)]
    assert spell and not any(spell)
    assert all(active[: int(voice.duration * 100)]) and active[int((again + 0.5) * 100)]


@pytest.mark.parametrize(
    ("user_at", "per_call"), [(0.3, 1), (1.0, 1), (1.5, 1), (2.0, 1), (3.0, 1), (6.0, 2)]
)
def test_with_no_echo_the_user_is_heard_whenever_they_speak(user_at: float, per_call: int) -> None:
    """Headphones, or a front end that cancels echo itself: nothing of the agent's voice is in
    the microphone. The guard finds that in the first half second of the voice and stops
    feeding its canceller, which (fed a far end it never found) held the user's speech down by
    about 17 dB from about 1.5 s into the first reply of a call: a barge-in 2 s in went
    unheard."""
    voice = speech_chunk(AGENT, RATE)
    mic = echo_mix(voice, gain_db=-80, user=speech_chunk("Stop please.", RATE), user_at=user_at)
    paths: list[bool | None] = []
    starts = speech_starts(mic, voice, echo_cancellation=True, paths=paths, per_call=per_call)
    assert starts and user_at <= starts[0] <= user_at + 0.5, starts
    # judged within the first second; a user who talks from the start can look like an echo
    # at first (the canceller is then fed, as it is until judged), until the microphone is
    # seen quiet while the voice goes on
    assert paths[0] is None and paths[-1] is False
    if user_at >= 1.0:
        assert paths[100] is False


def test_an_echo_is_judged_present_and_the_canceller_kept_fed() -> None:
    voice = speech_chunk(AGENT, RATE)
    paths: list[bool | None] = []
    speech_starts(echo_mix(voice, delay=0.15), voice, echo_cancellation=True, paths=paths)
    # confirmed by two judgements running (1 s in): until then the canceller is fed anyway
    assert paths[0] is None and paths[100] is True and set(paths[100:]) == {True}


def test_an_echo_that_appears_later_in_the_call_is_taken_out() -> None:
    """Headphones for the first reply, the speaker for the second: the second reply's echo
    brings the canceller back (judged on its first half second, which may leak)."""
    voice = speech_chunk(AGENT, RATE)
    again = voice.duration + 2.0
    quiet = echo_mix(voice, gain_db=-80, tail=2.0)
    loud = echo_mix(voice, delay=0.1)
    mic = AudioChunk(quiet.data[: int(again * RATE) * 2] + loud.data, RATE, 1)
    paths: list[bool | None] = []
    starts = speech_starts(mic, voice, echo_cancellation=True, again=again, paths=paths)
    assert paths[int(voice.duration * 100)] is False and paths[-1] is True
    assert all(again <= start <= again + 0.6 for start in starts), starts


def stalled(every: float, length: float, first: float) -> Callable[[int], float]:
    """Frames made 10 ms apart by a loop that stalls for ``length`` s every ``every`` s from
    ``first`` s on: the frames made during a stall reach the guard at its end, all at once."""

    def arrival(index: int) -> float:
        made = index / 100 + 0.001
        into = (made - first) % every if made >= first else every
        return made - into + length if into < length else made

    return arrival


@pytest.mark.parametrize(
    ("delay", "every", "length", "first"),
    [(0.1, 2.0, 1.0, 1.3), (0.35, 1.5, 0.5, 1.3), (0.25, 0.7, 0.3, 1.0), (0.35, 2.0, 1.0, 1.0)],
)
def test_a_stalling_loop_does_not_let_the_echo_through(
    delay: float, every: float, length: float, first: float
) -> None:
    """The worker's loop stalls (a busy job, a slow machine) and the microphone's frames reach
    the guard late, in a burst. Timed by the clock (reset when 0.2 s off), they shifted the echo
    against the far end by up to a stall at each one, and these four echoes leaked."""
    voice = speech_chunk(AGENT, RATE)
    mic = echo_mix(voice, delay=delay)
    mic = AudioChunk(bytes(2 * RATE) + mic.data, RATE, 1)  # a second of the call before
    arrival = stalled(every, length, first)
    assert speech_starts(mic, voice, echo_cancellation=True, voice_at=1.0, arrival=arrival) == []


def wandering_echo(voice: AudioChunk, *, delay: float, seed: int) -> AudioChunk:
    """``echo_mix`` with a delay that moves by 10 or 20 ms about three times a second (between
    0.15 and 0.6 s), as jitter buffers move it, after a second of the call."""
    rng = np.random.default_rng(seed)
    frame = RATE // 100
    far = voice.to_array().astype(np.float64) * 10 ** (-10 / 20)
    count = int((voice.duration + 2.0) * 100)
    mic = rng.normal(0.0, 0.001 * 32767, count * frame)
    lag = int(delay * 100)
    for index in range(count):
        if rng.random() < 1 / 30:
            lag = int(np.clip(lag + rng.choice([-2, -1, 1, 2]), 15, 60))
        source = index - 100 - lag
        if 0 <= source < far.size // frame:
            mic[index * frame : (index + 1) * frame] += far[source * frame : (source + 1) * frame]
    return AudioChunk(mic.clip(-32768, 32767).astype(np.int16).tobytes(), RATE, 1)


@pytest.mark.parametrize(("delay", "seed"), [(0.1, 2), (0.25, 1), (0.35, 1), (0.35, 2)])
def test_an_echo_whose_delay_wanders_is_held_down(delay: float, seed: int) -> None:
    """WebRTC's canceller loses an echo whose delay keeps moving, and what it leaves is the
    echo, little quieter: these four leaked before the gate on its output."""
    voice = speech_chunk(AGENT, RATE)
    mic = wandering_echo(voice, delay=delay, seed=seed)
    assert speech_starts(mic, voice, echo_cancellation=True, voice_at=1.0) == []


@pytest.mark.parametrize("delay", [0.1, 0.35])
def test_the_user_over_a_wandering_echo_is_heard(delay: float) -> None:
    voice = speech_chunk(AGENT, RATE)
    mic = wandering_echo(voice, delay=delay, seed=1)
    user = speech_chunk("Stop, tell me about trains.", RATE).to_array().astype(np.float64)
    samples = np.frombuffer(mic.data, np.int16).astype(np.float64)
    samples[3 * RATE : 3 * RATE + user.size] += user
    mic = AudioChunk(samples.clip(-32768, 32767).astype(np.int16).tobytes(), RATE, 1)
    starts = speech_starts(mic, voice, echo_cancellation=True, voice_at=1.0)
    assert starts and 3.0 <= starts[0] <= 3.5, starts


VOICE = "Hello from the playground. How can I help you today?"
QUESTION = "What is the weather in Paris?"


def cleaned(mic: AudioChunk, voice: AudioChunk, paths: list[bool | None]) -> AudioChunk:
    """``mic`` (16 kHz, as the room reads it) through a guard told that ``voice`` (48 kHz, as
    the agent publishes it) plays out from time 0."""
    clock = Clock()
    guard = EchoGuard(sample_rate=16_000, far_rate=RATE, clock=clock)
    at = 0.0
    for frame in frames(voice):
        guard.played(frame, at)
        at += frame.duration
    step = 2 * 160
    out = bytearray()
    for index, start in enumerate(range(0, len(mic.data) - step + 1, step)):
        clock.now = index / 100 + 0.001
        out += guard.process(mic.data[start : start + step])
        paths.append(guard.path.present)
    return AudioChunk(bytes(out), 16_000, 1)


@pytest.mark.parametrize("user_at", [1.2, 2.0, 4.5])
async def test_with_no_echo_the_users_words_come_through_whole(user_at: float) -> None:
    """No echo in the microphone (headphones, a browser): the user's question over the agent's
    voice once the guard has judged the call (1 s in), or just after the voice, reaches the
    STT as said. The canceller, merely no longer fed, held the speech down by about 12 dB
    through the voice and for seconds after it (whisper heard nothing, or other words:
    "We'll be ready to land."); and the user's words, rising and falling with the voice by
    chance (r 0.54 to 0.73 at 2 s), were taken for an echo and went through it again."""
    whisper = pytest.importorskip("livekitex_cli.providers.local.whisper")
    voice = speech_chunk(VOICE, RATE)
    question = speech_chunk(QUESTION, 16_000)
    mic = echo_mix(speech_chunk(VOICE, 16_000), gain_db=-80, user=question, user_at=user_at)
    paths: list[bool | None] = []
    out = cleaned(mic, voice, paths)
    assert paths[100] is False and True not in paths
    start = int(user_at * 16_000) * 2
    said = out.data[start : start + len(question.data) + 16_000]
    heard = await whisper.WhisperSTT().transcribe(AudioChunk(said, 16_000, 1))
    assert heard.text.strip() == QUESTION
