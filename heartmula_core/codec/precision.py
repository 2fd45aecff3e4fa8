"""Which float32 arithmetic the codec's CUDA kernels use: full float32, or TF32 when the caller asks for it.

PyTorch's defaults differ between kinds of kernel: float32 matmuls run in full float32, but cuDNN convolutions
(the SQ decoder's) run in TF32 (10-bit mantissa) on Ampere and later GPUs. The codec does not inherit whatever
the process happens to have set: `HeartCodec.tf32` (False by default, so a GPU decodes with the CPU's float32)
is applied around each of its compute steps and the process's settings are put back afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable)


@contextmanager
def float32_precision(device: torch.device, tf32: bool) -> Iterator[None]:
    """Within the block, CUDA float32 matmuls and convolutions use TF32 when `tf32`, full float32 otherwise.
    Nothing changes on other devices."""
    if device.type != "cuda":
        yield
        return
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9: mixing it with the legacy allow_tf32 flags is an error
        before = (matmul.fp32_precision, conv.fp32_precision)
        matmul.fp32_precision = conv.fp32_precision = "tf32" if tf32 else "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = before
        return
    before_legacy = (matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before_legacy


def codec_precision(method: F) -> F:
    """Run a `HeartCodec` method under `float32_precision(self.device, self.tf32)`."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with float32_precision(self.device, self.tf32):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
