"""Smart Turn v3.2 (BSD-2-Clause, Daily): an audio end-of-turn model, 8.7 MB of ONNX.

The file ships inside the ``pipecat-ai`` 1.14.0 wheel; install that wheel without its
dependencies (``pip install --no-deps pipecat-ai==1.14.0``). The model is found through the
wheel's installed file list (``importlib.metadata``): none of Pipecat's code is imported.
Features are Whisper log-mels of the last 8 s at 16 kHz (faster-whisper's numpy extractor),
the waveform normalised first, as the model was trained."""

from __future__ import annotations

import asyncio
import threading
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from livekitex_cli.errors import ResourceError

if TYPE_CHECKING:
    from livekitex_cli.providers.audio import AudioChunk

DISTRIBUTION = "pipecat-ai"
MODEL = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
RATE = 16_000
WINDOW = 8 * RATE
SETUP = "pip install --no-deps pipecat-ai==1.14.0"


def model_path() -> Path:
    """Where the installed wheel put the model; ``ResourceError`` naming the setup line."""
    try:
        path = Path(str(metadata.distribution(DISTRIBUTION).locate_file(MODEL)))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ResourceError("smart-turn", f"the Smart Turn v3.2 model is not installed: {SETUP}")
    return path


class SmartTurn:
    """``probability(audio)``: how likely the user's turn is complete at the end of ``audio``."""

    _shared: tuple[Any, Any] | None = None
    _lock = threading.Lock()

    def __init__(self, *, threshold: float = 0.5, sure: float | None = None) -> None:
        self.threshold = threshold
        # no pause ends before min_delay by default: synthetic halves score 0.67-0.85 here
        self.sure = sure

    @classmethod
    def _load(cls) -> tuple[Any, Any]:
        with cls._lock:
            if cls._shared is None:
                import onnxruntime as ort
                from faster_whisper.feature_extractor import FeatureExtractor

                options = ort.SessionOptions()
                options.inter_op_num_threads = 1
                options.intra_op_num_threads = 1
                session = ort.InferenceSession(str(model_path()), sess_options=options)
                cls._shared = (session, FeatureExtractor(feature_size=80, sampling_rate=RATE))
            return cls._shared

    async def load(self) -> None:
        await asyncio.to_thread(self._load)

    def features(self, samples: np.ndarray) -> np.ndarray:
        """(1, 80, 800) log-mels of the last 8 s (zeros in front of shorter audio)."""
        _, extractor = self._load()
        x = samples.astype(np.float32) / 32768.0
        x = x[-WINDOW:] if x.size >= WINDOW else np.pad(x, (WINDOW - x.size, 0))
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        mels: np.ndarray = extractor(x, padding=0)[:, :800]
        return mels[np.newaxis].astype(np.float32)

    def probability_now(self, audio: AudioChunk) -> float:
        session, _ = self._load()
        outputs = session.run(None, {"input_features": self.features(audio.to_array())})
        return float(np.asarray(outputs[0]).reshape(-1)[0])

    async def probability(self, audio: AudioChunk) -> float:
        return await asyncio.to_thread(self.probability_now, audio)
