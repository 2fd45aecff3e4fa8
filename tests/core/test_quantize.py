"""Weight-only int8 for the LM: the rounding, the layer, the whole model, and the full-size memory."""

import json

import pytest
import torch

from heartmula_core.lm.config import FLAVORS, HeartMuLaConfig
from heartmula_core.lm.generation import generate_tokens
from heartmula_core.lm.heartmula import build_heartmula, load_heartmula
from heartmula_core.lm.quantize import Int8Linear, int8_matmul, quantize_int8, quantize_rows, weight_bytes

from .heartmula_support import one_thread, sharp  # noqa: F401 (fixtures)


def test_rows_round_to_within_half_a_step():
    w = torch.randn(16, 40, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.01, 3, 16)[:, None]
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and scale.shape == (16, 1)
    assert q.abs().max() == 127  # every row uses the whole range
    assert ((q.float() * scale - w).abs() <= scale / 2 + 1e-7).all()


def test_int8_linear_is_the_dequantised_matmul():
    gen = torch.Generator().manual_seed(1)
    linear = torch.nn.Linear(64, 24, bias=False)
    torch.nn.init.normal_(linear.weight, generator=gen)
    x = torch.randn(3, 5, 64, generator=gen)
    layer = Int8Linear.from_linear(linear)
    q, scale = quantize_rows(linear.weight.detach())
    torch.testing.assert_close(layer(x), x @ (q.float() * scale).T, rtol=1e-5, atol=1e-5)
    rel = (layer(x) - linear(x)).norm() / linear(x).norm()
    assert rel < 0.01
    with pytest.raises(ValueError):
        Int8Linear.from_linear(torch.nn.Linear(4, 4))


@torch.inference_mode()
def test_quantised_model_generates_close_to_the_float_one(heartmula_ref, sharp):
    model = load_heartmula(heartmula_ref / "tiny" / "HeartMuLa-sharp", int8=True)
    assert model.is_quantized and model.dtype == torch.float32
    matrices = sum(
        t.numel() * t.element_size()
        for name, t in sharp.model.named_parameters()
        if name == "audio_head" or name.endswith(("_proj.weight", "w13.weight", "w2.weight", "projection.weight", "head.weight"))
    )
    saved = weight_bytes(sharp.model) - weight_bytes(model)
    assert 0.7 * matrices < saved < 0.75 * matrices  # fp32 -> int8 plus one scale per output
    model.setup_caches(2)
    sharp.model.setup_caches(2)
    tokens, mask = sharp.prompt.tokens.expand(2, -1, -1), sharp.prompt.mask.expand(2, -1, -1)
    logits = []
    for m in (sharp.model, model):
        h = m.backbone(m.embed_prompt(tokens, mask, sharp.prompt.muq_idx, torch.zeros(1, 512), uncond_rows=1), 0)
        logits.append(m.codebook0_head(h[:, -1]))
    assert (logits[1] - logits[0]).norm() / logits[0].norm() < 0.02
    out = generate_tokens(model, sharp.prompt, frames=12, cfg_scale=1.5, topk=1)
    float_out = generate_tokens(sharp.model, sharp.prompt, frames=12, cfg_scale=1.5, topk=1)
    assert out.lengths == float_out.lengths == [12]
    assert (out.tokens < 8192).all()  # codes the codec can decode (token agreement: benchmarks/bench_quant.py)


def test_full_size_int8_weights_fit_the_memory_target(heartmula_ref):
    """The 3B model quantised on `meta`: its weights (embeddings stay bf16) well under the 8 GB target."""
    manifest = json.loads((heartmula_ref / "manifests" / "heartmula-oss-3b.json").read_text())
    config = HeartMuLaConfig(backbone=FLAVORS["llama-3B"], decoder=FLAVORS["llama-300M"])
    model = quantize_int8(build_heartmula(config).to(torch.bfloat16))
    assert model.audio_head.dtype == torch.int8 and model.codebook0_head.weight.dtype == torch.int8
    gb = weight_bytes(model) / 1e9
    assert 3.5 < gb < 5.0, gb
    scales = [t for name, t in model.named_buffers() if name.endswith("scale")]
    tensors = [*model.parameters(), *model.buffers()]
    assert sum(t.numel() for t in tensors) - sum(t.numel() for t in scales) == manifest["params"]  # nothing lost


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("in_features", [64, 128, 32, 24])
def test_int8_matmul_kernel_and_converting_path_agree(dtype, in_features):
    """Widths that are a multiple of 64 take the CPU int8 kernel, others convert q (24 would crash the kernel);
    both give the dequantised product within the activation dtype's rounding."""
    gen = torch.Generator().manual_seed(2)
    q = torch.randint(-127, 128, (96, in_features), dtype=torch.int8, generator=gen)
    scale = torch.rand(96, generator=gen) / 100
    x = torch.randn(2, 3, in_features, generator=gen)
    exact = (x @ q.float().T) * scale
    got = int8_matmul(x.to(dtype), q, scale.to(dtype))
    assert got.dtype == dtype and got.shape == (2, 3, 96)
    assert (got.float() - exact).norm() / exact.norm() < 1e-2
    assert torch.allclose(int8_matmul(x, q, scale), exact, rtol=1e-4, atol=1e-5)  # float32: the converting path


@torch.inference_mode()
def test_bfloat16_int8_model_keeps_its_logits(heartmula_ref, sharp):
    """bfloat16 activations with int8 weights (the CPU kernel where widths allow): codebook logits stay close."""
    model = load_heartmula(heartmula_ref / "tiny" / "HeartMuLa-sharp", dtype="bfloat16", int8=True)
    reference = sharp.model
    h = torch.randn(2, model.config.decoder.embed_dim, generator=torch.Generator().manual_seed(3))
    for book in (1, 7):
        want = torch.mm(h, reference.audio_head[book - 1])
        got = model.audio_logits(h.to(torch.bfloat16), book).float()
        assert (got - want).norm() / want.norm() < 0.03
    out = generate_tokens(model, sharp.prompt, frames=6, cfg_scale=1.5, topk=1)
    assert out.lengths == [6] and (out.tokens < 8192).all()
