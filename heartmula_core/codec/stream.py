"""Window-by-window decoding of a batch of songs, fed while the LM is still making their codes.

Window k of a song reads codes [320 k, 320 k + 372). Once the song is known to run past 320 k + 372 frames,
nothing about that window depends on the song's end any more: no padding reaches it, it is not the last
window, and its noise is the k-th draw of the song's own generator. So its latents and its audio up to the
overlap with window k + 1 are final then, and `BatchDecoder.feed` makes them while the LM goes on; `finish`
decodes the rest once the final codes are known. Windows come out exactly as the one-shot decode gives them
(`decoding.decode_windows` is `finish` on a fresh decoder): the same noise draws, the same in-context
latents, the same crossfades; only which songs share a batch can differ, which changes fp32 sums in the last
bit at most.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvalidRequest, check_cancel
from .config import HOP_CODES, HOP_SAMPLES, OVERLAP_LATENTS, OVERLAP_SAMPLES, WINDOW_CODES, WINDOW_SAMPLES
from .heartcodec import HeartCodec
from .resume import WindowJoin
from .windows import noise_draws, pad_codes, target_samples, window_count


@dataclass(frozen=True)
class DecodedWindow:
    """One decoded window of one song: its final latent [744, 256] float32 and the audio [2, n] it made final.

    `variant` is the song's position in the batch, `index` the window's within the song, `last` whether it
    is the song's last window."""

    latents: torch.Tensor
    audio: torch.Tensor
    variant: int = 0
    index: int = 0
    last: bool = True


def frames_to_stream(index: int) -> int:
    """Code frames a song must be known to reach before its window `index` can be decoded early: the window's
    372 codes plus one, since a song ending exactly at the window's end makes it the last window (whose
    audio runs to the end instead of stopping at the next window's crossfade)."""
    return index * HOP_CODES + WINDOW_CODES + 1


class BatchDecoder:
    """Decodes several songs (a request's variants) window by window, each window index as one batch.

    Args:
        codec: the loaded HeartCodec.
        generators: one per song; each draws that song's noise in the official order (None: torch's global RNG).
        steps, guidance: Euler steps per window and the codec's guidance scale.
        cancel: checked before each window, each Euler step and each song's audio; raises `Cancelled`.

    Call `feed` any number of times with each song's codes so far, then `finish` once with the final codes.
    Each yields `DecodedWindow`s; per song they come in order and their audio concatenates to the song's.
    """

    def __init__(
        self,
        codec: HeartCodec,
        generators: Sequence[torch.Generator | None],
        *,
        steps: int,
        guidance: float,
        cancel: threading.Event | None = None,
    ) -> None:
        if not generators:
            raise InvalidRequest("nothing to decode: no songs")
        if not isinstance(steps, int) or steps < 1:
            raise InvalidRequest(f"steps must be a positive integer, got {steps!r}")
        self.codec, self.steps, self.guidance, self.cancel = codec, steps, guidance, cancel
        songs = len(generators)
        self._draws = [noise_draws(g, codec.config.out_channels) for g in generators]
        self.next_window = [0] * songs  # per song, the first window not decoded yet
        self._previous: list[torch.Tensor | None] = [None] * songs  # the last decoded window's latents
        self._joins = Crossfades(songs)
        self._fed: list[torch.Tensor | None] = [None] * songs  # the longest codes fed: the final ones must extend them
        self._finished = False

    def resume(self, joins: Sequence[WindowJoin | None]) -> None:
        """Start each song with a join at that join's window (None: at window 0), before anything is decoded.

        The windows before it are known already (a continuation's kept part, `resume.py`): they are not decoded
        and yield nothing; the song's noise generator still draws their noise, so every later window draws what
        it draws in a whole decode, and window `join.index` fades over `join.pending` as it would over the
        window before it. `finish` then needs the song's final codes to lie past the join's windows.
        """
        if len(joins) != self.songs:
            raise InvalidRequest(f"need a join (or None) for each of the {self.songs} songs, got {len(joins)}")
        if self.windows_done or self._finished or any(fed is not None for fed in self._fed):
            raise InvalidRequest("resume before decoding anything")
        for song, join in enumerate(joins):
            if join is None:
                continue
            for _ in range(join.index):
                next(self._draws[song])
            self._previous[song] = join.incontext
            self._joins.resume(song, join.pending)
            self.next_window[song] = join.index

    @property
    def songs(self) -> int:
        return len(self.next_window)

    @property
    def windows_done(self) -> int:
        return sum(self.next_window)

    def frames_wanted(self, song: int) -> int:
        """Code frames `song` must reach before `feed` can decode its next window."""
        return frames_to_stream(self.next_window[song])

    @torch.inference_mode()
    def feed(self, codes: Sequence[torch.Tensor]) -> Iterator[DecodedWindow]:
        """Decode every window that these codes make final.

        Args:
            codes: per song, [n_i, Q] integer codes: the first n_i frames of the final song, which is known to
                be at least that long (a song that has ended may be fed whole, or not at all).

        Yields:
            each window made final, window index by window index; within one, songs in batch order.
        """
        codes = self._checked(codes, "feed")
        for song, song_codes in enumerate(codes):
            self._remember(song, song_codes)
        while True:
            ready = [i for i, c in enumerate(codes) if c.shape[0] >= self.frames_wanted(i)]
            if not ready:
                return
            index = min(self.next_window[i] for i in ready)
            songs = [i for i in ready if self.next_window[i] == index]
            start = index * HOP_CODES
            yield from self._decode(index, songs, [codes[i][start : start + WINDOW_CODES] for i in songs],
                                    [WINDOW_SAMPLES] * len(songs), [False] * len(songs))

    @torch.inference_mode()
    def finish(self, codes: Sequence[torch.Tensor]) -> Iterator[DecodedWindow]:
        """Decode the windows `feed` has not, from each song's final codes [T_i, Q] (each extends what was fed).

        Each song gets int(T_i / 12.5 * 48000) samples in all; codes past the last full window are padded
        by repetition as the official decoder does.
        """
        codes = self._checked(codes, "finish")
        for song, song_codes in enumerate(codes):
            fed = self._fed[song]
            if fed is not None and not torch.equal(song_codes[: fed.shape[0]], fed):
                raise InvalidRequest(f"song {song}: the final codes do not extend the codes fed before")
        self._finished = True
        frames = [c.shape[0] for c in codes]
        counts = [window_count(n) for n in frames]
        for song, (count, done) in enumerate(zip(counts, self.next_window)):
            if done >= count:  # a resumed song must end past its known windows: its last one is still to come
                raise InvalidRequest(f"song {song}: {frames[song]} frames end inside the windows it resumed after")
        padded = [pad_codes(c) for c in codes]
        for index in range(min(self.next_window), max(counts)):
            songs = [i for i in range(self.songs) if self.next_window[i] == index and index < counts[i]]
            if not songs:
                continue
            last = [index == counts[i] - 1 for i in songs]
            keep = [target_samples(frames[i]) - index * HOP_SAMPLES if end else WINDOW_SAMPLES
                    for i, end in zip(songs, last)]
            start = index * HOP_CODES
            yield from self._decode(index, songs, [padded[i][start : start + WINDOW_CODES] for i in songs], keep, last)

    def _checked(self, codes: Sequence[torch.Tensor], what: str) -> list[torch.Tensor]:
        if self._finished:
            raise InvalidRequest(f"{what} after finish: this decode is over")
        if len(codes) != self.songs:
            raise InvalidRequest(f"need codes for each of the {self.songs} songs, got {len(codes)}")
        return [self.codec.check_codes(c, allow_empty=what == "feed") for c in codes]

    def _remember(self, song: int, codes: torch.Tensor) -> None:
        fed = self._fed[song]
        if fed is not None and not torch.equal(codes[: fed.shape[0]], fed[: codes.shape[0]]):
            raise InvalidRequest(f"song {song}: these codes do not extend the codes fed before")
        if fed is None or codes.shape[0] > fed.shape[0]:
            self._fed[song] = codes

    def window_latents(self, index: int, songs: list[int], window_codes: list[torch.Tensor]) -> torch.Tensor:
        """The final latents [b, 744, 256] of window `index` of `songs` (their codes [372, Q] each), sampled
        as one batch; each song draws its noise and takes its in-context frames from its previous window."""
        check_cancel(self.cancel, "decoding")
        device = self.codec.device
        # Each song draws from its own generator, in the official order for that song alone.
        noise = torch.stack([next(self._draws[i]).start.to(device) for i in songs])  # (b, 744, 256)
        incontext = torch.zeros_like(noise)
        known = 0 if index == 0 else OVERLAP_LATENTS
        for row, song in enumerate(songs):
            if known:
                incontext[row, :known] = self._previous[song][-known:]
        latents = self.codec.sample_latents(
            torch.stack(window_codes), noise, incontext, known, self.steps, self.guidance, self.cancel
        )  # (b, 744, 256)
        for row, song in enumerate(songs):
            self._previous[song] = latents[row]
            self.next_window[song] = index + 1
        return latents

    def _decode(
        self, index: int, songs: list[int], window_codes: list[torch.Tensor], keep: list[int], last: list[bool]
    ) -> Iterator[DecodedWindow]:
        """Window `index` of `songs` as one batch; yields each song's window with the first keep[i] samples
        decoded, crossfaded into what came before."""
        latents = self.window_latents(index, songs, window_codes)
        audio = self.codec.window_audio(latents, keep)
        for row, (song, chunk, end) in enumerate(zip(songs, audio, last)):
            check_cancel(self.cancel, "decoding")  # between the songs of one window too: after a cancel, no more audio comes
            final = self._joins(song, chunk, end)
            yield DecodedWindow(latents[row].float().cpu(), final, variant=song, index=index, last=end)


class Crossfades:
    """Joins each song's windows: a window's first 199,680 samples fade in over the previous window's last ones."""

    def __init__(self, songs: int) -> None:
        self._pending: list[torch.Tensor | None] = [None] * songs  # per song, the tail waiting for the next window

    def resume(self, song: int, pending: torch.Tensor) -> None:
        """Join `song`'s next window onto a window decoded elsewhere: its raw last samples [2, 199680]."""
        if pending.shape[-1] != OVERLAP_SAMPLES:
            raise InvalidRequest(f"a window's pending tail has {OVERLAP_SAMPLES} samples, got {pending.shape[-1]}")
        self._pending[song] = pending

    def __call__(self, song: int, audio: torch.Tensor, last: bool) -> torch.Tensor:
        """A window's audio [2, n] (from its first sample) -> the part of the song it makes final [2, m]: all of
        it for the last window, else all but the tail that the next window fades over."""
        pending = self._pending[song]
        if pending is not None:
            audio = torch.cat([crossfade(pending, audio[:, :OVERLAP_SAMPLES]), audio[:, OVERLAP_SAMPLES:]], dim=1)
        if not last:
            self._pending[song], audio = audio[:, -OVERLAP_SAMPLES:], audio[:, :-OVERLAP_SAMPLES]
        return audio.contiguous()


def crossfade(fading: torch.Tensor, rising: torch.Tensor) -> torch.Tensor:
    """Linear crossfade of two [2, 199680] float32 segments, in float64 with numpy's linspace (as official)."""
    ramp = torch.from_numpy(np.linspace(0.0, 1.0, OVERLAP_SAMPLES))  # float64
    return (fading * (1 - ramp) + rising * ramp).float()
