"""Silero VAD (v6 ONNX, as shipped with faster-whisper) on onnxruntime; no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from livekitex_cli.providers.base import VAD
from livekitex_cli.providers.local.models import require, shared, silero_path
from livekitex_cli.providers.local.options import SileroVADOptions

if TYPE_CHECKING:
    from livekitex_cli.providers.audio import Int16Array

CONTEXT = 64  # samples of the previous frame the model expects before each 512-sample frame
QUIET_PEAK = 33  # a frame whose samples all stay under this (-60 dBFS) is no speech: no model run


def _session(path: str) -> Any:
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


class SileroVAD(VAD):
    """One model per process, one recurrent state per instance (per session)."""

    provider_name = "silero"
    sample_rate = 16_000
    frame_samples = 512

    def __init__(self, options: SileroVADOptions | None = None) -> None:
        options = options or SileroVADOptions()
        super().__init__(timeout=options.timeout, max_retries=0)
        path = str(silero_path(options.model_path))
        self.session = shared(("silero", path), lambda: _session(path))
        self.threshold = options.threshold
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def _probability_impl(self, frame: Int16Array) -> float:
        audio = frame.astype(np.float32) / 32768.0
        if frame.size and int(np.abs(frame).max()) < QUIET_PEAK:
            # near digital silence (a muted or noise-suppressed microphone between words): the
            # model would say no speech; its state carries on from the last frame it heard
            self._context = audio[-CONTEXT:]
            return 0.0
        window = np.concatenate([self._context, audio])[None, :]
        self._context = audio[-CONTEXT:]
        probability, self._h, self._c = self.session.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        # Our turn detector activates at 0.5: rescale so the configured threshold maps to it.
        raw = float(np.asarray(probability).reshape(-1)[0])
        return (
            min(1.0, raw * 0.5 / self.threshold)
            if raw < self.threshold
            else 0.5 + 0.5 * ((raw - self.threshold) / max(1e-6, 1 - self.threshold))
        )
