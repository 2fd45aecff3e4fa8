"""Decoding songs with HeartCodec: LM codes [T, 8] -> 48 kHz stereo waveform [2, N], window by window.

The official `detokenize`, reproduced step for step (same padding, noise draws, Euler steps, guidance and
crossfade, so a seeded CPU run gives the official waveform), with four differences:

- Length fix: the official code skips the codes after the last full window when (T - 104) % 320 == 0 and
  T > 372 (T = 424 returns 29.76 s instead of 33.92 s). We pad whenever the windows do not cover the codes,
  so every code is decoded and the result always has int(T / 12.5 * 48000) samples. Every other T gives the
  official windows and waveform.
- Memory: one window at a time; each window's audio is yielded as soon as it is final, so peak memory does
  not grow with the song. Windows can even be decoded while the LM still runs (`stream.BatchDecoder`).
- Speed: the SQ decoder only runs on the latent frames whose samples are kept (plus its 2-frame look-ahead);
  the unconditional and conditional guidance rows go through the estimator as one batch.
- Batches: several songs (a request's variants) decode together, window index by window index, each with
  its own noise generator and length.

Two entry points: `decode_windows` (any number of songs, window by window) and `decode` (one song, whole);
`replay_join` starts a continuation's decode after its kept windows when their latents were not kept.
Window layout and noise draws live in `windows.py`, the window-by-window state (noise, in-context latents,
crossfades) in `stream.py`, resuming after known windows in `resume.py`, the model's per-window steps in
`heartcodec.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from ..errors import InvalidRequest
from .config import HOP_CODES, HOP_SAMPLES, WINDOW_CODES, WINDOW_SAMPLES
from .heartcodec import HeartCodec
from .resume import WindowJoin, join_from_tails, tail_of
from .stream import BatchDecoder, Crossfades, DecodedWindow
from .windows import target_samples, window_count

Progress = Callable[[int, int], None]


def decode_windows(
    codec: HeartCodec,
    codes: Sequence[torch.Tensor],
    *,
    generators: Sequence[torch.Generator | None],
    steps: int = 10,
    guidance: float = 1.25,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[DecodedWindow]:
    """Decode several songs in one pass, yielding every song's windows as they are made: window 0 of each
    song (in batch order), then window 1 of each song that has one, and so on.

    Every window index is one batch: its Euler steps run all the songs' guidance rows through the estimator
    together, and the SQ decoder takes all their channels at once. A song with fewer windows (the LM ended it
    earlier) simply leaves the batch after its last one; each keeps its own length and gives the audio it
    would give alone (equal within fp32 noise: batching can change the summation order of a kernel).

    Args:
        codec: the loaded HeartCodec.
        codes: per song [T_i, num_quantizers] integer codes, frame-major (what the LM produces),
            0 <= code < 8192 (a [B, T, 8] tensor works too). Lengths may differ.
        generators: one per song, each drawing that song's flow-matching noise in the official order; None
            uses torch's global RNG (as the official code). The noise is drawn on the generator's device, so
            a CPU generator gives the same audio on any device.
        steps: Euler steps per window.
        guidance: classifier-free guidance scale; <= 1 runs the conditional pass only.
        progress: called with (windows_done, windows_total), counted over every song's windows.
        cancel: checked before each window, each Euler step and each song's audio; raises Cancelled when set.

    Yields:
        `DecodedWindow`s: the window's final latents [744, 256] and the audio [2, n] it made final (crossfaded,
        never changed later), float32 on the CPU. Per song, the audio concatenates to
        [2, int(T_i / 12.5 * 48000)] at 48 kHz.
    """
    if len(generators) != len(codes):
        raise InvalidRequest(f"need one generator per song: {len(codes)} songs, {len(generators)} generators")
    decoder = BatchDecoder(codec, generators, steps=steps, guidance=guidance, cancel=cancel)
    total = None
    for done, window in enumerate(decoder.finish(codes), start=1):  # `finish` checks the codes first
        if progress is not None:
            total = total or sum(window_count(c.shape[0]) for c in codes)
            progress(done, total)
        yield window


def decode(
    codec: HeartCodec,
    codes: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    steps: int = 10,
    guidance: float = 1.25,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """One song's codes [T, num_quantizers] -> its waveform [2, int(T / 12.5 * 48000)] float32 at 48 kHz, on
    the CPU. `decode_windows` for a single song (arguments as there, one `generator`), joined."""
    windows = decode_windows(
        codec, [codes], generators=[generator], steps=steps, guidance=guidance, progress=progress, cancel=cancel
    )
    return torch.cat([window.audio for window in windows], dim=1)


@torch.inference_mode()
def waveform_from_latents(
    codec: HeartCodec, window_latents: Iterable[torch.Tensor], frames: int
) -> Iterator[DecodedWindow]:
    """SQ-decode and crossfade window latents [744, 256] (as `decode_windows` yields them) for a song of
    `frames` code frames; yields each window with the audio it made final. Only the needed latent frames of
    the last window are decoded."""
    windows, total = window_count(frames), target_samples(frames)
    joins = Crossfades(1)
    for index, latents in enumerate(window_latents):
        if index >= windows:
            raise InvalidRequest(f"{frames} frames make {windows} windows; got more latents")
        last = index == windows - 1
        keep = total - index * HOP_SAMPLES if last else WINDOW_SAMPLES
        (audio,) = codec.window_audio(latents[None].to(codec.device), [keep])
        yield DecodedWindow(latents.float().cpu(), joins(0, audio, last), index=index, last=last)


@torch.inference_mode()
def replay_join(
    codec: HeartCodec,
    codes: torch.Tensor,
    generator: torch.Generator | None,
    windows: int,
    *,
    steps: int = 10,
    guidance: float = 1.25,
    cancel: threading.Event | None = None,
) -> WindowJoin:
    """The join after the first `windows` windows of codes [>= 320 (windows - 1) + 372, Q] when their latents
    were not kept: their flow runs again with `generator` (seeded as their decode was, and used for nothing else:
    the resumed decode draws their noise again from its own), their SQ decode does not, except for the last
    window's tail (`resume.join_from_tails`)."""
    if windows < 1 or codes.shape[0] < (windows - 1) * HOP_CODES + WINDOW_CODES:
        raise InvalidRequest(f"{codes.shape[0]} code frames do not hold {windows} whole codec windows")
    decoder = BatchDecoder(codec, [generator], steps=steps, guidance=guidance, cancel=cancel)
    codes = codec.check_codes(codes)
    tails = []
    for index in range(windows):
        start = index * HOP_CODES
        latents = decoder.window_latents(index, [0], [codes[start : start + WINDOW_CODES]])  # (1, 744, 256)
        tails.append(tail_of(latents[0]))
    return join_from_tails(codec, torch.stack(tails))
