"""The scalar-quantised (SQ) codec decoder: 25 Hz latents [B, 128, T] -> 48 kHz waveform [B, 1, T * 1920].

Every convolution after the first is causal, so output sample n depends only on latent frames
<= n // 1920 + 2 (decoder.0 looks 2 frames ahead). That gives two things:
- `decode` can stop at the last latent frame whose samples are kept;
- the decoder can run over time in chunks, each causal layer carrying its last inputs to the next chunk
  (`Carry`), which gives the same samples as one pass while every activation stays small (cache-resident
  on CPU, a few MB on GPU instead of ~0.7 GB per layer for a full-size 30 s window).
The official checkpoint stores most convs weight-normed; the loader folds them into plain weights once, so
these modules are ordinary convolutions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import HeartCodecConfig

QUANT_LEVELS = 9  # latents are rounded to multiples of 1/9
RESIDUAL_DILATIONS = (1, 3, 5, 7, 9)
LOOKAHEAD_FRAMES = 2  # decoder.0's right context: (delay_kernel_size - 1) // 2

# Left context each causal layer carries from one chunk to the next; None = single pass (zero padding).
Carry = dict[nn.Module, torch.Tensor] | None


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left only, so output t sees inputs <= t."""

    def forward(self, x: torch.Tensor, carry: Carry = None) -> torch.Tensor:
        context = self.dilation[0] * (self.kernel_size[0] - 1)
        if carry is None:
            return super().forward(F.pad(x, (context, 0)))
        previous = carry.get(self)
        if previous is None:  # first chunk: the same zeros a single pass pads with
            previous = x.new_zeros(x.shape[0], x.shape[1], context)
        x = torch.cat([previous, x], dim=-1)
        carry[self] = x[..., x.shape[-1] - context :]
        return super().forward(x)


class ResidualUnit(nn.Module):
    """x + PReLU(conv1x1(PReLU(dilated causal conv(x))))."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = CausalConv1d(channels, channels, kernel_size, dilation=dilation)
        self.activation1 = nn.PReLU()
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.activation2 = nn.PReLU()

    def forward(self, x: torch.Tensor, carry: Carry = None) -> torch.Tensor:
        return x + self.activation2(self.conv2(self.activation1(self.conv1(x, carry))))


class UpsampleBlock(nn.Module):
    """Causal transposed conv (stride f, kernel 2f, last f samples dropped), then 5 residual units."""

    def __init__(self, c_in: int, c_out: int, factor: int, kernel_size: int, res_kernel_size: int) -> None:
        super().__init__()
        self.factor = factor
        self.up_conv = nn.ConvTranspose1d(c_in, c_out, kernel_size, stride=factor)
        self.convs = nn.ModuleList(ResidualUnit(c_out, res_kernel_size, d) for d in RESIDUAL_DILATIONS)

    def forward(self, x: torch.Tensor, carry: Carry = None) -> torch.Tensor:
        f = self.factor
        if carry is None:
            x = self.up_conv(x)[..., :-f]  # (B, c_out, T * f)
        else:
            # Output samples [s f, (s + n) f) of a chunk starting at input s also need input s - 1.
            previous = carry.get(self)
            if previous is None:
                previous = x.new_zeros(x.shape[0], x.shape[1], 1)
            carry[self] = x[..., -1:]
            x = self.up_conv(torch.cat([previous, x], dim=-1))[..., f:-f]  # (B, c_out, n * f)
        for unit in self.convs:
            x = unit(x, carry)
        return x


class PostProcessor(nn.Module):
    """Repeat every time step `repeats` times, then causal conv + PReLU.

    Computed without materialising the repeated signal: output sample r * n + p (phase p) reads input samples
    n - c .. n only, each through the sum of the kernel taps that land on it. So the conv runs at the input
    rate with `repeats` phase kernels of ceil(k / repeats) + 1 taps stacked as output channels, and the phases
    are interleaved afterwards: 1/repeats of the multiply-adds and no repeated copy. Equal to the repeat-then-
    convolve form up to fp32 rounding (taps are summed before the multiply).
    """

    def __init__(self, channels: int, kernel_size: int, repeats: int) -> None:
        super().__init__()
        self.repeats = repeats
        self.conv = CausalConv1d(channels, channels, kernel_size)
        self.activation = nn.PReLU()

    def phase_kernels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight [repeats * C, C, taps], bias [repeats * C]) of the input-rate conv, phase-major."""
        weight, r = self.conv.weight, self.repeats
        k = weight.shape[-1]
        taps = (k - 1 + r - 1) // r + 1
        # placement[j, p * taps + i] = 1 when tap j of the repeated conv reads input offset i - (taps - 1) for
        # output phase p: repeated sample r n + p - (k - 1) + j is input sample n + (p - (k - 1) + j) // r.
        placement = [[0.0] * (r * taps) for _ in range(k)]
        for p in range(r):
            for j in range(k):
                placement[j][p * taps + taps - 1 + (p - (k - 1) + j) // r] = 1.0
        placement = torch.tensor(placement, dtype=weight.dtype, device=weight.device)  # (k, r * taps)
        phased = (weight @ placement).unflatten(-1, (r, taps))  # (C_out, C_in, r, taps)
        return phased.permute(2, 0, 1, 3).flatten(0, 1), self.conv.bias.repeat(r)

    def forward(self, x: torch.Tensor, carry: Carry = None) -> torch.Tensor:
        weight, bias = self.phase_kernels()
        context = weight.shape[-1] - 1
        if carry is None:
            padded = F.pad(x, (context, 0))
        else:
            previous = carry.get(self)
            if previous is None:
                previous = x.new_zeros(x.shape[0], x.shape[1], context)
            padded = torch.cat([previous, x], dim=-1)
            carry[self] = padded[..., padded.shape[-1] - context :]
        y = F.conv1d(padded, weight, bias)  # (B, r * C, T): phase p in channels p C .. (p + 1) C
        y = y.unflatten(1, (self.repeats, -1)).permute(0, 2, 3, 1).flatten(2)  # (B, C, T * r)
        return self.activation(y)


class SQDecoder(nn.Module):
    """`layers` keeps the official indices 0..7 (`scalar_model.decoder.N`)."""

    def __init__(self, config: HeartCodecConfig) -> None:
        super().__init__()
        width = 32 * config.init_channel
        layers: list[nn.Module] = [
            nn.Conv1d(
                config.latent_hidden_dim, width, config.delay_kernel_size, padding=config.delay_kernel_size // 2
            )
        ]
        for factor, kernel in zip(config.upsample_factors, config.upsample_kernel_sizes, strict=True):
            layers.append(UpsampleBlock(width, width // 2, factor, kernel, config.res_kernel_size))
            width //= 2
        layers.append(PostProcessor(width, config.default_kernel_size, config.num_samples))
        layers.append(CausalConv1d(width, 1, config.default_kernel_size))
        self.layers = nn.ModuleList(layers)
        self.hop_length = config.hop_length

    def forward(self, latents: torch.Tensor, frames: int | None = None, chunk_frames: int | None = None) -> torch.Tensor:
        """latents [B, latent_hidden_dim, T] -> waveform [B, 1, frames * hop_length].

        The latents are first snapped to the 1/9 grid (round half to even, as torch.round does). `frames`
        (default T) decodes only the first frames: the samples are the same as decoding all T and cutting.
        `chunk_frames` runs the causal layers that many latent frames at a time (default: one pass).
        """
        frames = latents.shape[-1] if frames is None else frames
        latents = latents[..., : frames + LOOKAHEAD_FRAMES]
        x = self.layers[0](torch.round(latents * QUANT_LEVELS) / QUANT_LEVELS)[..., :frames]  # (B, 32C, frames)
        if chunk_frames is None or chunk_frames >= frames:
            return self._causal_layers(x, None)
        carry: dict[nn.Module, torch.Tensor] = {}
        chunks = [self._causal_layers(x[..., start : start + chunk_frames], carry)
                  for start in range(0, frames, chunk_frames)]
        return torch.cat(chunks, dim=-1)

    def _causal_layers(self, x: torch.Tensor, carry: Carry) -> torch.Tensor:
        for layer in self.layers[1:]:
            x = layer(x, carry)
        return x
