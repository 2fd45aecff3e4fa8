"""The step a CUDA graph records (`decode_frame_at`, `Transformer.step`) computes what the eager step does.

The graph itself needs a GPU (benchmarks/gpu_check.py checks its replays against this step there); what can be
wrong on any device is the maths of the static step: the position as a tensor (RoPE rows, the cache slot) and
attention over every slot of the cache through a mask. The sharp set, whose attention is peaked, turns a wrong
position or a stale slot read into different tokens.
"""

import numpy as np
import pytest
import torch

from heartmula_core.errors import InvalidRequest
from heartmula_core.lm.generation import FrameSteps, generate_tokens

from .heartmula_support import one_thread, sharp  # noqa: F401 (fixtures)


def test_a_backbone_step_at_a_device_position_equals_the_forward_at_that_position(sharp):
    model, dim = sharp.model, sharp.model.config.backbone.embed_dim
    torch.manual_seed(0)
    prompt, row = torch.randn(2, 7, dim), torch.randn(2, 1, dim)
    with torch.inference_mode():
        model.backbone.setup_caches(2, torch.device("cpu"), torch.float32, 64)
        model.backbone(prompt, 0)
        stale = model.backbone.layers[0].attn.cache.k[:, :, 7:].clone()
        model.backbone.layers[0].attn.cache.k[:, :, 8:] = 1e4  # an unmasked stale slot would dominate attention
        by_step = model.backbone.step(row, torch.tensor([7]))
        model.backbone.layers[0].attn.cache.k[:, :, 7:] = stale
        by_forward = model.backbone(row, 7)
    model.clear_caches()
    torch.testing.assert_close(by_step, by_forward, rtol=1e-6, atol=1e-6)


def test_a_song_made_with_the_static_step_has_the_official_and_the_eager_tokens(sharp):
    """Two variants (4 rows with guidance), the first seeded as the official sampled run, longer than it."""
    ref = sharp.golden["gen_cfg15_topk50_seed0_frames"]
    seeds = (int(sharp.golden["sampled_seed"]), 4)

    def run(static: bool):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return generate_tokens(sharp.model, sharp.prompt, frames=60, cfg_scale=1.5, topk=50, generators=gens,
                               static_step=static)

    eager, static = run(False), run(True)
    assert np.array_equal(static.tokens[0, : len(ref)].numpy(), ref)
    assert static.lengths == eager.lengths
    assert torch.equal(static.tokens, eager.tokens)


def test_a_cuda_graph_is_refused_off_cuda_before_any_work(sharp):
    with pytest.raises(InvalidRequest, match="CUDA graphs need a CUDA device"):
        generate_tokens(sharp.model, sharp.prompt, frames=4, cuda_graph=True)
    with pytest.raises(InvalidRequest, match="CUDA graphs need a CUDA device"):
        FrameSteps(device=None, cuda_graph=True)
