"""The transformer: cached decoding equals a full forward, caches can be set up again, RoPE scaling."""

import math

import pytest
import torch

from heartmula_core.lm.config import FLAVORS, LlamaConfig
from heartmula_core.lm.llama import Transformer, attend, llama3_inv_freq

from .heartmula_support import one_thread  # noqa: F401 (fixture)

CFG = LlamaConfig(num_layers=2, embed_dim=48, num_heads=6, num_kv_heads=2, intermediate_dim=96, max_seq_len=64)


@pytest.fixture(scope="module")
def model(one_thread):
    torch.manual_seed(0)
    net = Transformer(CFG)
    with torch.no_grad():
        for name, p in net.named_parameters():
            # sharp attention (large q/k), so any position or cache mistake shows
            p.normal_(0, 1.0 if name.endswith("scale") else 1.5 / math.sqrt(p.shape[-1]))
    return net.eval()


@torch.inference_mode()
def test_cached_decoding_equals_full_forward(model):
    x = torch.randn(3, 20, CFG.embed_dim, generator=torch.Generator().manual_seed(1))
    model.clear_caches()
    full = model(x, 0)
    model.setup_caches(3, x.device, x.dtype)
    parts = [model(x[:, :7], 0), model(x[:, 7:10], 7)]  # prefill, then a chunk at an offset (explicit mask)
    parts += [model(x[:, t : t + 1], t) for t in range(10, 20)]  # one token at a time
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)


@torch.inference_mode()
def test_setup_caches_twice_and_with_another_batch(model):
    x = torch.randn(1, 5, CFG.embed_dim, generator=torch.Generator().manual_seed(2))
    model.setup_caches(1, x.device, x.dtype)
    cache = model.layers[0].attn.cache
    model.setup_caches(1, x.device, x.dtype)
    assert model.layers[0].attn.cache is cache  # already fits: reused, not reallocated
    first = model(x, 0)
    model.setup_caches(4, x.device, x.dtype)
    assert model.layers[0].attn.cache.k.shape[0] == 4
    again = model(x.expand(4, -1, -1), 0)
    torch.testing.assert_close(again, first.expand(4, -1, -1), rtol=1e-5, atol=1e-6)
    model.setup_caches(2, x.device, x.dtype, length=8)
    with pytest.raises(ValueError, match="overflow"):
        model(torch.randn(2, 9, CFG.embed_dim), 0)


def test_gqa_kv_head_serves_consecutive_query_heads():
    """Query heads 0..2 read kv head 0 and heads 3..5 kv head 1 (expanded, not interleaved)."""
    q = torch.randn(1, 6, 4, 8)
    k = torch.randn(1, 2, 4, 8)
    v = torch.randn(1, 2, 4, 8)
    out = attend(q, k, v, 0)
    ref = torch.nn.functional.scaled_dot_product_attention(
        q, k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1), is_causal=True
    )
    torch.testing.assert_close(out, ref)
    out_one = attend(q[:, :, -1:], k, v, 3)
    torch.testing.assert_close(out_one, ref[:, :, -1:])


def test_llama3_rope_scaling():
    theta = 1.0 / (500_000 ** (torch.arange(0, 128, 2).float() / 128))
    scaled = llama3_inv_freq(FLAVORS["llama-3B"])
    wavelen = 2 * math.pi / theta
    assert torch.equal(scaled[wavelen < 2048], theta[wavelen < 2048])  # high frequencies kept
    assert torch.allclose(scaled[wavelen > 8192], theta[wavelen > 8192] / 32)  # low ones divided by 32
    band = (wavelen >= 2048) & (wavelen <= 8192)
    assert band.any()
    assert ((scaled[band] < theta[band]) & (scaled[band] > theta[band] / 32)).all()
