"""Speech to text with Moonshine tiny (English, MIT), offline on onnxruntime.

The weights ship in the ``moonshine-voice`` 0.1.0 wheel (``assets/tiny-en``: an encoder and a
merged decoder in ONNX Runtime's format, and a byte-level vocabulary); its own native library
is not used (through plain onnxruntime it decodes about 3x faster here). Moonshine encodes the
utterance as it is, with no fixed window, so a short question costs what it lasts.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from livekitex_cli.providers.audio import AudioChunk
from livekitex_cli.providers.base import STT, Transcript
from livekitex_cli.providers.local import whisper_window
from livekitex_cli.providers.local.models import moonshine_folder, require, shared
from livekitex_cli.providers.local.options import MOONSHINE, WhisperSTTOptions

START, END = 1, 2  # <s>, </s>
TOKENS_PER_SECOND = 6.5  # a cap on the words an utterance can hold: a looping decoder stops
MIN_SAMPLES = 1_600  # 0.1 s: the encoder's convolutions need at least this much
# below this mean log-probability of its tokens, a transcript is the decoder's guess at
# silence or noise ("You", at 0.3 and 0.1; a word's first token on speech: 0.59-0.99), as
# whisper's own log-probability threshold drops it
NO_SPEECH = -1.0


def read_vocabulary(path: Path) -> list[bytes]:
    """``tokenizer.bin``: each token's bytes, each after its length (one byte, or two when the
    first has its high bit set). Tokens 3-258 are the raw bytes 0-255."""
    data = path.read_bytes()
    pieces: list[bytes] = []
    i = 0
    while i < len(data):
        size = data[i]
        i += 1
        if size & 0x80:
            size = (size & 0x7F) | (data[i] << 7)
            i += 1
        pieces.append(data[i : i + size])
        i += size
    return pieces


def detokenize(pieces: list[bytes], ids: list[int]) -> str:
    """Text of ``ids``: special tokens dropped, ``▁`` read as a space."""
    raw = b"".join(
        pieces[i] for i in ids if i > END and i < len(pieces) and not pieces[i].startswith(b"<<")
    )
    return raw.decode("utf-8", errors="replace").replace("\u2581", " ").strip()


class MoonshineModel:
    """The two sessions and the vocabulary, shared by every ``MoonshineSTT`` of a process."""

    def __init__(self, folder: Path, threads: int) -> None:
        ort = require("onnxruntime", package="onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        cpu = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(
            str(folder / "encoder_model.ort"), options, providers=cpu
        )
        self.decoder = ort.InferenceSession(
            str(folder / "decoder_model_merged.ort"), options, providers=cpu
        )
        self.pieces = read_vocabulary(folder / "tokenizer.bin")
        # each cache input (name, heads, size per head), in the order its output comes back
        inputs = {i.name: i.shape for i in self.decoder.get_inputs()}
        self.past = [
            (name, int(inputs[name][1]), int(inputs[name][3]))
            for name in (o.name.replace("present.", "past_key_values.", 1)
                         for o in self.decoder.get_outputs()[1:])
        ]  # fmt: skip
        self.lock = threading.Lock()

    def transcribe(self, samples: np.ndarray) -> str:
        """Greedy text of ``samples`` (float32, 16 kHz, -1..1); empty when the decoder is
        unsure throughout (``NO_SPEECH``), and a whole repeat cut back to its first copy."""
        if samples.size < MIN_SAMPLES:
            samples = np.pad(samples, (0, MIN_SAMPLES - samples.size))
        audio = samples.astype(np.float32)[None, :]
        with self.lock:
            hidden = self.encoder.run(
                None, {"input_values": audio, "attention_mask": np.ones_like(audio, np.int64)}
            )[0]
            feeds: dict[str, np.ndarray] = {
                "encoder_hidden_states": hidden,
                "encoder_attention_mask": np.ones(hidden.shape[:2], np.int64),
            }
            feeds |= {
                name: np.zeros((1, heads, 0, size), np.float32) for name, heads, size in self.past
            }
            ids: list[int] = []
            logprobs: list[float] = []  # of each token chosen
            token = START
            for step in range(int(samples.size / 16_000 * TOKENS_PER_SECOND) + 5):
                feeds["input_ids"] = np.array([[token]], np.int64)
                feeds["use_cache_branch"] = np.array([step > 0])
                outputs = self.decoder.run(None, feeds)
                logits = outputs[0][0, -1]
                token = int(logits.argmax())
                top = float(logits[token])
                logprobs.append(-float(np.log(np.exp(logits - top).sum())))
                if token == END:
                    break
                ids.append(token)
                for (name, _, _), value in zip(self.past, outputs[1:], strict=True):
                    # the encoder's keys and values are computed once, on the first step
                    if step == 0 or ".decoder." in name:
                        feeds[name] = value
        if not ids or sum(logprobs) / len(logprobs) < NO_SPEECH:
            return ""
        text = detokenize(self.pieces, ids)
        return whisper_window.first_copy(text) or text


class MoonshineSTT(STT):
    """``stt: {provider: local, model: moonshine-tiny}``: English only."""

    provider_name = "local-moonshine"
    sample_rate = 16_000

    def __init__(self, options: WhisperSTTOptions | None = None) -> None:
        options = options or WhisperSTTOptions(model=MOONSHINE)
        super().__init__(timeout=options.timeout, max_retries=0)
        self.options = options
        self.folder = moonshine_folder()
        self._model: MoonshineModel | None = None

    def __repr__(self) -> str:
        return "<MoonshineSTT model='moonshine-tiny'>"

    async def load(self) -> None:
        """Load the model now (it loads on first use otherwise). Idempotent."""
        await asyncio.to_thread(self._ensure)

    def _ensure(self) -> MoonshineModel:
        if self._model is None:
            threads = self.options.cpu_threads or 1
            key = ("moonshine", str(self.folder), str(threads))
            self._model = shared(key, lambda: MoonshineModel(self.folder, threads))
        return self._model

    async def _transcribe_impl(self, audio: AudioChunk, language: str | None) -> Transcript:
        samples = audio.to_array().astype(np.float32) / 32768.0
        text = await asyncio.to_thread(self._ensure().transcribe, samples)
        return Transcript(text=text, language="en")
