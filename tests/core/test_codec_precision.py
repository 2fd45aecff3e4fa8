"""TF32 in the codec is the caller's choice: float32 by default on a GPU, TF32 when asked, the process's own
settings put back afterwards, and nothing touched on the CPU."""

from __future__ import annotations

import torch

from heartmula_core.codec import load_heartcodec
from heartmula_core.codec.precision import float32_precision

CUDA = torch.device("cuda")


def _flags() -> tuple[str, str]:
    return torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision


def test_the_codec_sets_its_float32_precision_and_puts_the_process_one_back():
    before = _flags()  # torch's defaults: matmuls in float32, cuDNN convolutions in TF32
    with float32_precision(CUDA, tf32=False):
        assert _flags() == ("ieee", "ieee")
    assert _flags() == before
    with float32_precision(CUDA, tf32=True):
        assert _flags() == ("tf32", "tf32")
    assert _flags() == before
    with float32_precision(torch.device("cpu"), tf32=True):
        assert _flags() == before


def test_tf32_is_off_unless_asked_for(heartmula_ref):
    folder = heartmula_ref / "tiny" / "HeartCodec-tiny"
    assert not load_heartcodec(folder).tf32
    assert load_heartcodec(folder, tf32=True).tf32
