"""The SQ decoder's PostProcessor (repeat x r, then causal conv) computed at the input rate with phase kernels:
equal to the literal repeat-then-convolve form, in one pass and in chunks that carry their context."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from heartmula_core.codec.sq_codec import PostProcessor


def literal(post: PostProcessor, x: torch.Tensor) -> torch.Tensor:
    """The official form: every time step repeated, left-padded causal conv, PReLU."""
    repeated = x.repeat_interleave(post.repeats, dim=-1)
    context = post.conv.kernel_size[0] - 1
    return post.activation(F.conv1d(F.pad(repeated, (context, 0)), post.conv.weight, post.conv.bias))


def make(channels: int, kernel: int, repeats: int, dtype: torch.dtype) -> PostProcessor:
    torch.manual_seed(channels * 100 + kernel * 10 + repeats)
    post = PostProcessor(channels, kernel, repeats).to(dtype)
    with torch.no_grad():
        post.activation.weight.fill_(0.3)  # a slope that is not the default, so the PReLU is exercised
    return post


@pytest.mark.parametrize(("kernel", "repeats"), [(7, 2), (7, 3), (4, 2), (1, 2), (5, 1)])
@pytest.mark.parametrize("length", [1, 2, 5, 33])
def test_phase_kernels_equal_repeat_then_conv(kernel: int, repeats: int, length: int) -> None:
    post = make(6, kernel, repeats, torch.float64)
    x = torch.randn(3, 6, length, dtype=torch.float64)
    with torch.no_grad():
        out = post(x)
        assert out.shape == (3, 6, length * repeats)
        torch.testing.assert_close(out, literal(post, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 2, 3, 8, 40])
def test_chunks_carry_the_context(chunk: int) -> None:
    """Carry is per-chunk state inside one decode: the chunks concatenate to the one-pass output, and a fresh
    carry starts from the zero padding again (a second decode does not see the first one's samples)."""
    post = make(8, 7, 2, torch.float32)
    x = torch.randn(2, 8, 37)
    with torch.no_grad():
        whole = post(x)
        for _ in range(2):  # two decodes in a row, each with its own carry
            carry: dict = {}
            chunks = torch.cat([post(x[..., s : s + chunk], carry) for s in range(0, x.shape[-1], chunk)], dim=-1)
            torch.testing.assert_close(chunks, whole, rtol=0, atol=1e-6)
        torch.testing.assert_close(whole, literal(post, x), rtol=0, atol=1e-6)
