"""Band-limited resampling with a Hann-windowed sinc kernel (torchaudio's `sinc_interp_hann` math).

The official encoder resamples twice and builds the same kernel two ways, which differ by ~1e-7 and can
flip tokens, so both are kept: the input -> 24 kHz step builds the kernel in the input's dtype (float32),
the 24 -> 16 kHz step inside the feature extractor builds it in float64 and casts it to float32. Kernels are
always built on the CPU (a CUDA-built kernel rounds differently) and only then moved to the signal's device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOWPASS_WIDTH = 6  # zero crossings of the sinc on each side
ROLLOFF = 0.99  # cutoff as a fraction of the lower Nyquist rate


def reduced_rates(orig: int, new: int) -> tuple[int, int]:
    """Both rates divided by their gcd (the kernel has one phase per output sample of a period)."""
    g = math.gcd(orig, new)
    return orig // g, new // g


def resampled_length(samples: int, orig: int, new: int) -> int:
    """ceil(new * samples / orig) with both rates reduced: the length `resample` returns."""
    o, n = reduced_rates(orig, new)
    return -(-n * samples // o)


def sinc_kernel(orig: int, new: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, int]:
    """The (n, 1, 2*width + o) polyphase kernel and its half-width `width`, built on the CPU in `dtype`."""
    o, n = reduced_rates(orig, new)
    base = min(o, n) * ROLLOFF
    width = math.ceil(LOWPASS_WIDTH * o / base)
    idx = torch.arange(-width, width + o, dtype=dtype)[None, None] / o  # (1, 1, 2w + o)
    t = torch.arange(0, -n, -1, dtype=dtype)[:, None, None] / n + idx  # (n, 1, 2w + o)
    t = (t * base).clamp(-LOWPASS_WIDTH, LOWPASS_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_WIDTH / 2) ** 2
    t = t * math.pi
    scale = base / o
    kernel = torch.where(t == 0, torch.tensor(1.0, dtype=dtype), t.sin() / t) * (window * scale)
    return kernel, width


def apply_kernel(wave: torch.Tensor, kernel: torch.Tensor, width: int, orig: int, new: int) -> torch.Tensor:
    """Resample `wave` (..., L) with a kernel from `sinc_kernel` -> (..., ceil(new * L / orig))."""
    o, n = reduced_rates(orig, new)
    shape = wave.shape
    rows = wave.reshape(-1, shape[-1])  # (R, L)
    padded = F.pad(rows, (width, width + o))
    out = F.conv1d(padded[:, None], kernel.to(device=wave.device, dtype=wave.dtype), stride=o)  # (R, n, frames)
    out = out.transpose(1, 2).reshape(rows.shape[0], -1)  # (R, n * frames): phases interleaved in time
    return out[:, : resampled_length(shape[-1], orig, new)].reshape(*shape[:-1], -1)


def resample(wave: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """`wave` (..., L) from `orig` Hz to `new` Hz, the kernel built in the signal's dtype (the input path)."""
    if orig == new:
        return wave
    kernel, width = sinc_kernel(orig, new, dtype=wave.dtype)
    return apply_kernel(wave, kernel, width, orig, new)


class FixedResampler(torch.nn.Module):
    """A resampler between two fixed rates whose kernel is built once in float64 and kept in float32.

    The kernel is a non-persistent buffer (it is not in the checkpoint), created on the CPU at first use.
    """

    def __init__(self, orig: int, new: int) -> None:
        super().__init__()
        self.orig, self.new = orig, new
        self._kernel: torch.Tensor | None = None
        self._width = 0

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(..., L) float32 -> (..., ceil(new * L / orig))."""
        if self._kernel is None:
            kernel, self._width = sinc_kernel(self.orig, self.new, dtype=torch.float64)
            self._kernel = kernel.to(torch.float32)
        return apply_kernel(wave, self._kernel, self._width, self.orig, self.new)
