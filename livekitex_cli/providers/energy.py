"""A built-in VAD on signal energy: no model, no dependency, fine for clean audio."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from livekitex_cli.providers.base import VAD
from livekitex_cli.providers.plugin import ProviderFactory, ProviderOptions, ProviderPlugin

if TYPE_CHECKING:
    from livekitex_cli.providers.audio import Int16Array


class EnergyVADOptions(ProviderOptions):
    threshold_db: float = Field(default=-40.0, ge=-96, le=0, description="speech above this dBFS")
    frame_ms: Literal[10, 20, 30, 32] = 32


class EnergyVAD(VAD):
    """Speech probability from a frame's RMS level relative to ``threshold_db`` (a soft step)."""

    provider_name = "energy"

    def __init__(self, options: EnergyVADOptions | None = None) -> None:
        options = options or EnergyVADOptions()
        super().__init__(timeout=options.timeout, max_retries=0)
        self.threshold_db = options.threshold_db
        self.frame_samples = self.sample_rate * options.frame_ms // 1000

    def _probability_impl(self, frame: Int16Array) -> float:
        if frame.size == 0:
            return 0.0
        rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float32) / 32768.0))))
        level = 20.0 * math.log10(max(rms, 1e-9))
        return 1.0 / (1.0 + math.exp(-(level - self.threshold_db) / 2.0))


plugin = ProviderPlugin(
    name="energy",
    description="built-in energy VAD (no model)",
    vad=ProviderFactory(options=EnergyVADOptions, create=EnergyVAD),
)
