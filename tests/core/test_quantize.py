"""Weight-only int8 for the LM: the rounding, the layer, the whole model, and the full-size memory."""

import json

import pytest
import torch

from heartmula_core.config import FLAVORS, HeartMuLaConfig
from heartmula_core.generation import generate_tokens
from heartmula_core.heartmula import build_heartmula, load_heartmula
from heartmula_core.quantize import Int8Linear, quantize_int8, quantize_rows, weight_bytes

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
