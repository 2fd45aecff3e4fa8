"""Starting a song's decode at a later window, with the audio of the earlier ones already known.

A continued song keeps its parent's first P code frames and decodes with the parent's codec seed, so its
windows that lie wholly inside those frames (window k reads codes [320 k, 320 k + 372)) are the parent's own:
same codes, same noise draws, same in-context latents. Their audio, up to where the first new window fades in
(`windows.settled_samples(P)`), is the parent's. Decoding them again only to throw the audio away is wasted work;
what the first new window m needs from them is small, and `WindowJoin` holds it:

- the noise generator advanced past m windows' draws (drawn and dropped: cheap, see `BatchDecoder.resume`);
- window m - 1's last 104 latent frames, window m's in-context frames;
- window m - 1's raw last 199,680 samples, which window m's first samples crossfade over.

The latents are not in the audio, so they come from the parent's decode: each window's last `TAIL_LATENTS`
latent frames, kept beside its audio (`MusicResult.codec_tails`). From window m - 1's tail the SQ decoder remakes
the raw samples: it is causal with a short reach (`sq_context_frames`, ~43 frames), so decoding the tail from
`TAIL_WARMUP` frames before the overlap, on the same 32-frame chunk grid as the whole window, gives the same
samples. A parent decoded before tails were kept (or elsewhere) can still be resumed: `replay_join` runs the
flow of the kept windows again (their latents chain through the in-context frames) but not their SQ decode
(`decoding.replay_join`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InvalidRequest
from .config import OVERLAP_LATENTS, OVERLAP_SAMPLES, SAMPLES_PER_LATENT, HeartCodecConfig
from .heartcodec import SQ_CHUNK_FRAMES, HeartCodec
from .sq_codec import RESIDUAL_DILATIONS

TAIL_WARMUP = 2 * SQ_CHUNK_FRAMES
"""Latent frames decoded before the overlap to rebuild its samples: at least the SQ decoder's reach, and a whole
number of chunks, so the tail runs through the same chunk shapes as the whole window did."""
TAIL_LATENTS = OVERLAP_LATENTS + TAIL_WARMUP  # 168 latent frames kept per window
"""Latent frames kept from the end of every window: what a later continuation needs to resume after it."""


@dataclass(frozen=True)
class WindowJoin:
    """The codec's state where window `index` of a song begins, its earlier windows done.

    Attributes:
        index: windows already decoded (m >= 1).
        tails: float32 [m, TAIL_LATENTS, 256]: the last latent frames of each of windows 0 .. m - 1 (kept so the
            new song can be resumed after any of them in turn); the last row's final 104 are window m's
            in-context frames.
        pending: float32 [2, 199680]: window m - 1's raw last samples, which window m crossfades over.
    """

    index: int
    tails: torch.Tensor
    pending: torch.Tensor

    @property
    def incontext(self) -> torch.Tensor:
        """[104, 256]: window m - 1's last latent frames."""
        return self.tails[-1, -OVERLAP_LATENTS:]


def sq_context_frames(config: HeartCodecConfig) -> float:
    """How far back (in latent frames) an SQ decoder output sample reads: decoder.0's two frames, each
    upsampling conv's one input sample, the residual units' dilated taps, the post-processor's and the last
    conv's taps, each at its own rate."""
    frames, rate = float(config.delay_kernel_size // 2), 1
    for factor in config.upsample_factors:
        frames += 1 / rate
        rate *= factor
        frames += (config.res_kernel_size - 1) * sum(RESIDUAL_DILATIONS) / rate
    taps = (config.default_kernel_size - 1 + config.num_samples - 1) // config.num_samples + 1
    frames += (taps - 1) / rate
    return frames + (config.default_kernel_size - 1) / (rate * config.num_samples)


def tail_of(latents: torch.Tensor) -> torch.Tensor:
    """A window's final latents [744, 256] -> the part a later continuation keeps [TAIL_LATENTS, 256]."""
    return latents[-TAIL_LATENTS:].float().cpu().clone()  # a copy: the whole window's latents can go


@torch.inference_mode()
def join_from_tails(codec: HeartCodec, tails: torch.Tensor) -> WindowJoin:
    """The join after windows 0 .. m - 1, from their kept tails [m, TAIL_LATENTS, 256] (m = len(tails)).

    Only window m - 1's tail is SQ-decoded: the samples of its last TAIL_LATENTS frames, of which the last
    199,680 (the overlap) are the ones the whole window's decode gives there.
    """
    if sq_context_frames(codec.config) > TAIL_WARMUP:
        raise InvalidRequest("this codec's SQ decoder reaches too far back to resume from kept latents")
    if tails.dim() != 3 or tails.shape[1:] != (TAIL_LATENTS, codec.config.out_channels) or len(tails) == 0:
        raise InvalidRequest(
            f"kept codec latents must be [windows, {TAIL_LATENTS}, {codec.config.out_channels}], got {list(tails.shape)}"
        )
    tails = tails.float().cpu()
    samples = TAIL_LATENTS * SAMPLES_PER_LATENT
    (audio,) = codec.window_audio(tails[-1:].to(codec.device), [samples])  # (2, samples)
    return WindowJoin(len(tails), tails, audio[:, -OVERLAP_SAMPLES:].contiguous())
