"""HeartTranscriptor (a Whisper fine-tuned on sung lyrics): audio in, timed lyric lines out.

The checkpoint is an ordinary Hugging Face Whisper folder (config.json, model.safetensors, the processor
and tokenizer files), loaded with transformers' Whisper classes. Everything around the model is ours: the
audio goes through `heartmula_core.audio` (any format, downmixed, resampled to 16 kHz), long songs are cut
into overlapping 30 s windows that are transcribed in batches, and the windows are joined without the words
both heard.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import WHISPER_SAMPLE_RATE, load_for_model, resample, to_mono
from ..errors import InvalidRequest, ModelNotAvailable, check_cancel
from ..weights import checkpoint_files, parse_dtype
from .chunks import OVERLAP_S, LyricLine, join_windows, parse_timestamped, plan_windows, shift
from .lyrics import Section, format_sections, label_sections

log = logging.getLogger(__name__)

SILENCE_PEAK = 10 ** (-60 / 20)
"""Below -60 dBFS there is nothing to hear; Whisper would only hallucinate on it, so such windows are skipped."""
DEFAULT_BATCH_SIZE = 4
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""Whisper's recipe against repetition loops (a real risk with choruses): decode greedily, and re-decode a
window at the next temperature when its text compresses too well or its average log-probability is too low."""
COMPRESSION_RATIO_LIMIT = 2.4
LOGPROB_LIMIT = -1.0
NO_TIMESTAMPS = 2**62
"""`timestamp_begin` for a checkpoint without timestamp tokens: larger than any token id."""

Progress = Callable[[int, int], None]
"""`progress(windows_done, windows_total)`."""


@dataclass(frozen=True)
class TranscriptResult:
    """What a transcription heard.

    `lines` are phrases with their times in the song (seconds); `sections` is the `[verse]`/`[chorus]`
    guess when it was asked for and repetition made it clear, else None.
    """

    lines: tuple[LyricLine, ...]
    duration_s: float
    windows: int
    language: str | None = None
    sections: tuple[Section, ...] | None = field(default=None)

    @property
    def text(self) -> str:
        """The lyrics, one phrase per line (with section headers when there are sections)."""
        if self.sections:
            return format_sections(self.sections)
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: text, duration, and each line with its start and end in seconds."""
        out: dict[str, Any] = {
            "text": self.text,
            "duration_s": round(self.duration_s, 3),
            "language": self.language,
            "lines": [{"start": round(x.start, 2), "end": round(x.end, 2), "text": x.text} for x in self.lines],
        }
        if self.sections:
            out["sections"] = [
                {"label": s.label, "lines": [x.text for x in s.lines]} for s in self.sections
            ]
        return out


def _peak(audio: np.ndarray) -> float:
    return float(np.abs(audio).max()) if audio.size else 0.0


class Transcriber:
    """A loaded HeartTranscriptor: `Transcriber(folder, "cuda", "float16").transcribe("song.mp3")`.

    Args:
        model_dir: a Whisper checkpoint folder (config.json, safetensors, processor and tokenizer files).
        device: "cpu", "cuda", "cuda:1"...
        dtype: "float32" or "float16" (half precision is for GPUs).
        batch_size: how many 30 s windows the model reads at once.
        beams: beam width (1: greedy search, fastest).
        temperatures: the fallback ladder; `(0.0,)` decodes greedily only (deterministic, and faster when the
            model loops).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        beams: int = 1,
        temperatures: tuple[float, ...] = FALLBACK_TEMPERATURES,
    ) -> None:
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        folder = Path(model_dir)
        if not (folder / "config.json").is_file():
            raise ModelNotAvailable(f"{folder} is not a Whisper checkpoint folder (no config.json)")
        checkpoint_files(folder)  # a clear error for missing or partly downloaded weights
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidRequest("device 'cuda' was asked for but CUDA is not available here")
        self.dtype = parse_dtype(dtype)
        if batch_size < 1:
            raise InvalidRequest(f"batch size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        if beams < 1 or not temperatures:
            raise InvalidRequest("beams must be at least 1 and temperatures must not be empty")
        self.decoding: dict[str, Any] = {"num_beams": beams}
        if len(temperatures) > 1:
            self.decoding.update(
                temperature=tuple(temperatures),
                compression_ratio_threshold=COMPRESSION_RATIO_LIMIT,
                logprob_threshold=LOGPROB_LIMIT,
            )
        try:
            self.processor = WhisperProcessor.from_pretrained(folder, local_files_only=True)
            model = WhisperForConditionalGeneration.from_pretrained(folder, local_files_only=True, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            raise ModelNotAvailable(f"cannot load the transcription model from {folder}: {exc}") from exc
        self.model = model.to(self.device).eval()
        self.source = folder

        features = self.processor.feature_extractor
        if features.sampling_rate != WHISPER_SAMPLE_RATE:
            raise ModelNotAvailable(f"{folder}: the processor reads {features.sampling_rate} Hz, expected 16 kHz")
        self.window_s = float(features.chunk_length)
        # One timestamp step per encoder position: 30 s over 1500 positions = 20 ms for every Whisper size.
        self.time_step = self.window_s / self.model.config.max_source_positions
        generation = self.model.generation_config
        no_timestamps = getattr(generation, "no_timestamps_token_id", None)
        # Timestamp tokens follow <|notimestamps|>. A checkpoint without them: no id is a timestamp, so each
        # window becomes one line.
        self.timestamps = no_timestamps is not None
        self.timestamp_begin = no_timestamps + 1 if self.timestamps else NO_TIMESTAMPS
        self.multilingual = bool(getattr(generation, "is_multilingual", False))
        tokenizer = self.processor.tokenizer
        self._special_ids = set(tokenizer.all_special_ids)
        self._decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)

    # --------------------------------------------------------------------------------------- input

    def prepare(
        self, audio: str | os.PathLike[str] | np.ndarray, sample_rate: int | None = None, **read_kwargs
    ) -> np.ndarray:
        """Any input → what the model hears: float32 `[samples]`, mono, 16 kHz.

        Args:
            audio: a file path, or a float32 (or integer PCM) `[samples]` / `[channels, samples]` array at
                `sample_rate`.
            read_kwargs: `max_seconds` / `max_bytes` caps for files (see `audio.read_audio`).
        """
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise InvalidRequest("an audio array needs its sample rate")
            if audio.size == 0:
                raise InvalidRequest("the audio is empty")
            return resample(to_mono(audio), sample_rate, WHISPER_SAMPLE_RATE)
        return load_for_model(audio, WHISPER_SAMPLE_RATE, mono=True, **read_kwargs)

    # ---------------------------------------------------------------------------------- transcribe

    @torch.inference_mode()
    def transcribe(
        self,
        audio: str | os.PathLike[str] | np.ndarray,
        sample_rate: int | None = None,
        *,
        language: str | None = None,
        sections: bool = False,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        **read_kwargs,
    ) -> TranscriptResult:
        """Transcribe the lyrics of a song.

        Args:
            audio: a file path (any format `audio.read_audio` reads) or a float32 array `[samples]` /
                `[channels, samples]` with its `sample_rate`.
            language: a Whisper language code ("en", "zh"...) to skip language detection.
            sections: also guess `[verse]`/`[chorus]` where repetition makes it clear.
            progress: called as `progress(windows_done, windows_total)` after each batch.
            cancel: when set, the work stops between batches with `Cancelled`.

        Returns:
            A `TranscriptResult` with the timed lines and the plain text.

        Raises:
            InvalidRequest: unreadable, empty or silent audio.
            Cancelled: `cancel` was set.
        """
        name = str(audio) if not isinstance(audio, np.ndarray) else "the audio"
        mono = self.prepare(audio, sample_rate, **read_kwargs)  # (samples,) at 16 kHz
        if _peak(mono) < SILENCE_PEAK:
            raise InvalidRequest(f"{name} is silent: there is nothing to transcribe")
        windows = plan_windows(mono.shape[0], WHISPER_SAMPLE_RATE, self.window_s, OVERLAP_S)
        audible = [w for w in windows if _peak(mono[w.start : w.end]) >= SILENCE_PEAK]
        heard: list[tuple[float, list[LyricLine]]] = []
        for first in range(0, len(audible), self.batch_size):
            check_cancel(cancel, "transcription")
            batch = audible[first : first + self.batch_size]
            token_rows = self._generate([mono[w.start : w.end] for w in batch], language)
            for window, tokens in zip(batch, token_rows):
                start_s, end_s = window.seconds(WHISPER_SAMPLE_RATE)
                lines = parse_timestamped(
                    tokens, self.timestamp_begin, self.time_step, self._special_ids, self._decode, end_s - start_s
                )
                heard.append((start_s, shift(lines, start_s)))
            if progress is not None:
                progress(min(first + self.batch_size, len(audible)), len(audible))
        lines = join_windows(heard, OVERLAP_S)
        guessed = label_sections(lines) if sections else None
        return TranscriptResult(
            lines=tuple(lines),
            duration_s=mono.shape[0] / WHISPER_SAMPLE_RATE,
            windows=len(audible),
            language=language,
            sections=tuple(guessed) if guessed else None,
        )

    def _generate(self, clips: list[np.ndarray], language: str | None) -> list[list[int]]:
        """One batch of ≤ 30 s clips (16 kHz mono) → the generated token ids of each (prompt excluded)."""
        features = self.processor.feature_extractor(
            clips, sampling_rate=WHISPER_SAMPLE_RATE, return_tensors="pt", return_attention_mask=True
        )
        kwargs: dict[str, Any] = {"return_timestamps": self.timestamps, **self.decoding}
        if self.multilingual:
            kwargs["task"] = "transcribe"
            if language:
                kwargs["language"] = language
        try:
            sequences = self.model.generate(
                features.input_features.to(self.device, self.dtype),  # (B, mel bins, 3000)
                attention_mask=features.attention_mask.to(self.device),
                **kwargs,
            )
        except ValueError as exc:  # an unknown language code, mostly
            raise InvalidRequest(f"transcription failed: {exc}") from None
        return [row.tolist() for row in sequences.cpu()]
