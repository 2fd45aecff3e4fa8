"""A request's variants turned into audio window by window, each window as soon as its codes are final.

`SongDecoder.on_frame` is `generate_tokens`' per-frame hook: when the LM has made enough frames for the next
codec window (372 codes plus one, see `codec.stream.frames_to_stream`), it decodes that window for every
variant still running, in the LM's thread between two frames, and hands the audio to `on_audio`. So the first
audio comes about halfway through a one-minute song instead of after the LM. `finish` decodes the rest from
the final tokens. The audio is exactly what decoding the final tokens in one go gives (`codec.stream`).

A continuation that hands in its kept part's audio starts after the windows lying wholly inside it
(`codec.resume`): their samples open every variant's audio and are not decoded again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from .codec.config import SAMPLE_RATE
from .codec.decoding import replay_join
from .codec.resume import WindowJoin, join_from_tails, tail_of
from .codec.stream import BatchDecoder, DecodedWindow
from .codec.windows import kept_windows, settled_samples, window_count
from .errors import InvalidRequest
from .request import MusicRequest
from .result import AudioChunk

AudioCallback = Callable[[AudioChunk], None]
WindowProgress = Callable[[int, int], None]


def codec_generator(seed: int) -> torch.Generator:
    """The codec noise generator of a variant. The codec draws its noise on the generator's device: a CPU
    generator gives the same song on any device."""
    return torch.Generator(device="cpu").manual_seed(seed)


def as_codes(tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Saved or generated tokens [frames, 8] as an int64 tensor, or InvalidRequest."""
    codes = torch.as_tensor(np.asarray(tokens) if not isinstance(tokens, torch.Tensor) else tokens)
    if codes.dim() != 2 or codes.shape[1] != 8 or codes.shape[0] == 0:
        raise InvalidRequest(f"tokens must be [frames, 8] with at least one frame, got {list(codes.shape)}")
    return codes.long()


class SongDecoder:
    """Every variant's audio [2, samples], decoded as one batch per codec window.

    Args:
        codec: the loaded HeartCodec.
        seeds: one per variant; variant i's codec noise comes from `codec_generator(seeds[i])`, so it is the
            audio that variant gives alone.
        steps, guidance: the codec's Euler steps and guidance scale.
        cancel: checked by the codec every window and Euler step (raises `Cancelled`).
        on_audio: receives each window's final part of a variant's audio as soon as it is made (float32
            [2, n], read-only), `final=True` on the variant's last one.
        join, known: a continuation's codec state after its kept windows and their audio float32
            [2, join.index x 1,228,800]: every variant starts with that audio (not handed to `on_audio`, whose
            caller has it first) and decodes from window `join.index` on.
    """

    def __init__(
        self,
        codec,
        seeds: Sequence[int],
        *,
        steps: int,
        guidance: float,
        cancel: threading.Event | None = None,
        on_audio: AudioCallback | None = None,
        join: WindowJoin | None = None,
        known: np.ndarray | None = None,
    ) -> None:
        self._decoder = BatchDecoder(
            codec, [codec_generator(s) for s in seeds], steps=steps, guidance=guidance, cancel=cancel
        )
        self._on_audio = on_audio
        self._chunks: list[list[np.ndarray]] = [[] for _ in seeds]
        self._tails: list[list[np.ndarray]] = [[] for _ in seeds]  # per variant, each window's kept latents
        if join is not None:
            self._decoder.resume([join] * len(seeds))
            for chunks, tails in zip(self._chunks, self._tails):
                chunks.append(known)
                tails.extend(join.tails.numpy())
        self._next_check = min(self._decoder.frames_wanted(i) for i in range(len(seeds)))
        self.early_seconds = 0.0
        """Seconds spent decoding inside `on_frame`, i.e. while the LM was running."""

    @property
    def windows_done(self) -> int:
        return self._decoder.windows_done

    def on_frame(self, tokens: torch.Tensor, lengths: torch.Tensor) -> None:
        """`generate_tokens`' hook, called after every frame.

        Args:
            tokens: (B, n, 8) the frames made so far, on the LM's device.
            lengths: (B,) each variant's length once it has ended (the requested frame count while it runs):
                variant b's first min(n, lengths[b]) frames are final.
        Nothing is read from the device until the next window can be decoded, so most frames cost nothing.
        """
        made = tokens.shape[1]
        if made < self._next_check:
            return
        start = time.perf_counter()
        ends = [int(n) for n in lengths.tolist()]
        frames = tokens.cpu()
        known = [frames[b, : min(made, end)].clone() for b, end in enumerate(ends)]
        self._deliver(self._decoder.feed(known))
        running = [b for b, end in enumerate(ends) if end >= made]  # an ended variant never reaches more windows
        self._next_check = min((self._decoder.frames_wanted(b) for b in running), default=math.inf)
        self.early_seconds += time.perf_counter() - start

    def finish(self, tokens: Sequence[np.ndarray | torch.Tensor], progress: WindowProgress | None = None) -> list[np.ndarray]:
        """Decode what `on_frame` has not, from every variant's final tokens [frames_i, 8].

        Args:
            progress: called with (windows_done, windows_total) after each window, counting the early ones.
        Returns:
            per variant, float32 [2, samples] at 48 kHz: the concatenation of its chunks.
        """
        codes = [as_codes(t) for t in tokens]
        total = sum(window_count(c.shape[0]) for c in codes)
        done = self._decoder.windows_done  # the early ones
        for window in self._decoder.finish(codes):
            self._deliver([window])
            done += 1
            if progress is not None:
                progress(done, total)
        return [np.concatenate(song, axis=1) for song in self._chunks]

    @property
    def codec_tails(self) -> list[np.ndarray]:
        """Per variant, float32 [windows, 168, 256]: what a continuation needs to resume after any window."""
        return [np.stack(tails) for tails in self._tails]

    def _deliver(self, windows: Iterable[DecodedWindow]) -> None:
        for window in windows:
            samples = window.audio.numpy()
            samples.flags.writeable = False  # the result is built from these very arrays
            self._chunks[window.variant].append(samples)
            self._tails[window.variant].append(tail_of(window.latents).numpy())
            if self._on_audio is not None:
                self._on_audio(AudioChunk(window.variant, samples, window.last))


def kept_start(request: MusicRequest) -> np.ndarray | None:
    """The audio of a continuation's windows lying wholly inside its kept part, float32 [2, windows x 1,228,800]
    from `request.kept_audio`; None when none was handed in or no window lies wholly inside (under 29.76 s)."""
    if request.kept_audio is None or kept_windows(request.kept) == 0:
        return None
    samples = settled_samples(request.kept)
    if request.kept_audio.shape[1] < samples:
        raise InvalidRequest(
            f"the kept audio is {request.kept_audio.shape[1] / SAMPLE_RATE:g} s long; the kept part's whole codec "
            f"windows need {samples / SAMPLE_RATE:g} s"
        )
    return request.kept_audio[:, :samples]


def kept_join(
    codec, request: MusicRequest, *, steps: int, guidance: float, cancel: threading.Event | None = None
) -> WindowJoin:
    """The codec state after a continuation's kept windows (`kept_start`'s): from the parent's kept latents, or
    else by running those windows' flow again with the parent's codec seed."""
    windows = kept_windows(request.kept)
    latents = request.kept_latents
    if latents is None:
        codes = torch.from_numpy(request.kept_codes.copy())
        return replay_join(codec, codes, codec_generator(request.decode_seed), windows, steps=steps,
                           guidance=guidance, cancel=cancel)
    if len(latents) < windows:
        raise InvalidRequest(f"the kept codec latents cover {len(latents)} windows; the kept part has {windows}")
    return join_from_tails(codec, torch.from_numpy(latents[:windows].copy()))
