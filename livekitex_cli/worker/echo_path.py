"""Whether a call has an echo at all: the agent's voice coming back in the user's microphone,
judged from the levels of the two, 10 ms at a time, so the echo guard feeds its canceller only
when there is an echo to take out (``echo_guard`` says why)."""

from __future__ import annotations

import numpy as np

from livekitex_cli.log import get_logger

log = get_logger("worker")
REACH = 50  # frames (0.5 s): the lags a quiet microphone must have shown no echo at...
SEARCH = 100  # frames (1 s): ...and those an echo is looked for at (a call's first reply: 1 s)
WINDOW = 100  # frames of the microphone (1 s) an echo path is judged on
JUDGE_EVERY = 25  # frames of heard voice between two judgements
EVIDENCE = 40  # frames of the voice and the microphone side by side a judgement needs at least
VOICED = 10 ** (-45 / 20)  # the agent's voice level (RMS, full scale 1) from which it can echo
COUPLING = 10 ** (-30 / 20)  # a microphone this far below the voice has no echo of it
FLOOR = 10 ** (-60 / 20)  # ...nor one below this level
ECHO = 0.5  # correlation of the two levels' courses that says echo...
STEADY = 8.0  # ...with the microphone this steady a share of the voice (dB, interquartile)
SAME_LAG = 3  # frames: ...at the same lag in two judgements running
EARLY, LATE = 8, 15  # frames an echo may come sooner, or later, than where it was last found


class EchoPath:
    """Whether the agent's voice comes back in the microphone, judged from the two levels,
    10 ms at a time: ``present`` is ``None`` until judged. An echo: the microphone's level
    follows the voice's at some lag up to ``SEARCH`` (Pearson's r of the two courses at least
    ``ECHO``), at a steady share of it (``STEADY``), at the same lag in two judgements running.
    None: while the voice could be heard, the microphone stayed quiet (below the voice by
    ``COUPLING``, or below ``FLOOR``) in 9 frames of 10. A microphone that is loud but does not
    follow the voice is the user talking over it, with or without an echo under the user's
    words: that proves nothing either way (an r as low as 0.24 was seen through the real server
    with the test echo and the user at once). The user's words can also rise and fall with the
    voice by chance, at r 0.54 to 0.73 in the test corpus, which the correlation alone took for
    an echo: but their share of the voice swings by 6 to 30 dB, and the lag that fits best
    jumps between judgements; a real echo through the server was 2.4 to 7.6 dB steady (spread)
    at one lag."""

    def __init__(self) -> None:
        self.present: bool | None = None
        self._far: list[float] = []  # the voice's level, per microphone frame
        self._near: list[float] = []  # the microphone's
        self._heard = 0  # frames since the span began in which the voice could be heard
        self._lag: int | None = None  # where the last judgement saw the voice come back
        # where an echo was last found, and at what share of the voice (kept across replies,
        # forgotten when the call is judged to have none)
        self.echo: tuple[int, float] | None = None

    def hear(self, near: float, far: float) -> None:
        """One microphone frame's level and the voice's that played out with it."""
        self._far.append(far)
        self._near.append(near)
        if len(self._near) > WINDOW + SEARCH:
            del self._far[0], self._near[0]
        if max(self._far[-REACH:]) >= VOICED:
            self._heard += 1
            if self._heard % JUDGE_EVERY == 0:
                self._judge()

    def expected(self) -> float:
        """How loud the echo in the newest microphone frame may be: the loudest of the voice
        from ``EARLY`` frames sooner to ``LATE`` frames later than where the echo was last
        found, at the share it came back at; 0 if no echo was found since the call was judged
        to have none. Found once is enough: an echo that turns up after the call was judged to
        have none (the first reply's echo came back 1 s late through the real server, after
        the microphone had stayed quiet through the first second of the voice) is held down at
        once, while two findings running bring the canceller back."""
        if self.echo is None:
            return 0.0
        lag, share = self.echo
        end = len(self._far) - max(0, lag - EARLY)
        return max(self._far[max(0, end - EARLY - LATE - 1) : end], default=0.0) * share

    def restart(self) -> None:
        """The voice stopped (and its tail passed): the next span is judged on its own."""
        self._far.clear()
        self._near.clear()
        self._heard = 0
        self._lag = None

    def _judge(self) -> None:
        """An echo once the microphone follows the voice at some lag; none only once every lag
        up to ``REACH`` has had ``EVIDENCE`` frames to show it (an echo 0.4 s late is not yet
        in the microphone 0.5 s into the voice)."""
        far, near = np.array(self._far), np.array(self._near)
        count = min(WINDOW, near.size)
        follows = correlations(far, near, count)
        best = int(np.argmax(follows))
        if follows[best] >= ECHO:
            spread, share = _spread(far, near, best, count)
            if spread <= STEADY:
                self.echo = best, share
                if self._lag is not None and abs(best - self._lag) <= SAME_LAG:
                    self._settle(
                        True, r=round(follows[best], 2), lag_ms=10 * best, spread_db=spread
                    )
                self._lag = best
                return
        self._lag = None
        if self._heard < REACH + EVIDENCE:
            return
        heard = np.array([far[max(0, i - REACH + 1) : i + 1].max() for i in range(far.size)])
        heard, mic = heard[-count:], near[-count:]
        quiet = (mic < np.maximum(heard * COUPLING, FLOOR))[heard >= VOICED]
        if quiet.mean() >= 0.9:
            self._settle(False, quiet=round(float(quiet.mean()), 2))

    def _settle(self, present: bool, **why: float) -> None:
        if not present:
            self.echo = None
        if present != self.present:
            verdict = "an echo" if present else "no echo"
            log.debug("echo path judged: %s", verdict, extra={"echo": present, **why})
        self.present = present


def correlations(far: np.ndarray, near: np.ndarray, count: int) -> list[float]:
    """For each lag from 0 to ``SEARCH`` frames: how closely the last ``count`` levels of
    ``near`` follow ``far``'s that many frames earlier (Pearson's r; 0 with too few frames or a
    flat course). The lags with a whole window of ``count`` frames (all of them once the call
    has a second and a half of levels) are one matrix product: asked of ``np.corrcoef`` one lag
    at a time, they took 1.3 of the echo guard's 1.8 s per minute of the agent's voice."""
    whole = min(SEARCH + 1, near.size - count + 1)  # lags 0 to whole - 1 (count <= size)
    out = [_correlation(far, near, lag, count) for lag in range(whole, SEARCH + 1)]
    if count < EVIDENCE:
        return [0.0] * whole + out
    windows = np.lib.stride_tricks.sliding_window_view(far, count)
    a = windows[far.size - count - np.arange(whole)]  # far.size == near.size
    b = near[-count:]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean()
    scale = np.sqrt((a * a).sum(axis=1) * (b * b).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(scale > 0, (a @ b) / scale, 0.0)
    return [float(x) for x in r] + out


def _correlation(far: np.ndarray, near: np.ndarray, lag: int, count: int) -> float:
    """``correlations`` at one lag whose window is cut short by the start of the levels."""
    a, b = _aligned(far, near, lag, count)
    if b.size < EVIDENCE or a.std() == 0 or b.std() == 0:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / np.sqrt((a @ a) * (b @ b)))


def _aligned(
    far: np.ndarray, near: np.ndarray, lag: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The last ``count`` levels of ``near`` beside ``far``'s ``lag`` frames earlier."""
    start = max(lag, near.size - count)
    return far[start - lag : far.size - lag], near[start:]


def _spread(far: np.ndarray, near: np.ndarray, lag: int, count: int) -> tuple[float, float]:
    """How much the microphone's share of the voice ``lag`` frames earlier varies (the
    interquartile range, in dB, of their ratio where both are above the noise) and the share
    itself (the median ratio). An echo is the voice at one loss (a few dB apart, through a
    codec); the user's words that happen to rise and fall with the voice (r up to 0.58 on the
    test corpus) are 10 to 30 dB apart."""
    a, b = _aligned(far, near, lag, count)
    both = (a >= VOICED) & (b >= FLOOR)
    if both.sum() < EVIDENCE // 2:
        return float("inf"), 0.0
    ratio = 20 * np.log10(b[both] / a[both])
    spread = round(float(np.percentile(ratio, 75) - np.percentile(ratio, 25)), 1)
    return spread, float(10 ** (np.median(ratio) / 20))


def level(pcm: bytes) -> float:
    """RMS of 16-bit PCM, full scale 1."""
    samples = np.frombuffer(pcm, np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) / 32768 if samples.size else 0.0
