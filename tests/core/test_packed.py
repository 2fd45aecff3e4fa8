"""Weights packed for oneDNN (`heartmula_core/lm/packed.py`): the official tokens still, on both checkpoints.

The reference checkpoints' matrices are far below the size worth packing, so these tests pack every matrix
(`min_bytes=0`) to run the packed kernel on the goldens' sharp cases (RoPE, attention and bias mistakes).
"""

import numpy as np
import pytest
import torch
from torch import nn

from heartmula_core.lm.generation import generate_tokens
from heartmula_core.lm.heartmula import load_heartmula
from heartmula_core.lm.packed import MIN_PACKED_INPUTS, PackedLinear, can_pack, worth_packing
from heartmula_core.lm.prompting import PromptBuilder
from tests.core.golden import GoldenArrays

from .heartmula_support import one_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not can_pack(torch.device("cpu"), torch.float32), reason="torch without oneDNN")


@pytest.fixture(scope="module")
def packed_case(heartmula_ref, one_thread):  # noqa: F811 (fixture)
    def load(name: str):
        golden = GoldenArrays(heartmula_ref / "golden" / f"heartmula_{name}.npz")
        model = load_heartmula(heartmula_ref / "tiny" / f"HeartMuLa-{name}", packed=False).pack_weights(min_bytes=0)
        builder = PromptBuilder.from_folder(heartmula_ref / "tiny" / "HeartMuLaGen-tiny")
        return golden, model, builder.build(str(golden["tags_text"]), str(golden["lyrics_text"]))

    return load


def test_every_large_matrix_is_packed_and_nothing_else(heartmula_ref):
    model = load_heartmula(heartmula_ref / "tiny" / "HeartMuLa-sharp", packed=False)
    assert not model.is_packed
    model.pack_weights(min_bytes=0)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [model.muq_linear]  # the style projection has a bias: it stays as it is
    assert len(model.audio_heads_packed) == model.num_codebooks - 1 and model.audio_head.numel() == 0
    packed = [m for m in model.modules() if isinstance(m, PackedLinear)]
    layers = model.config.backbone.num_layers + model.config.decoder.num_layers
    assert len(packed) == 4 * layers + 2 + 7  # q/k/v + output + gate/up + down per layer, projection, heads
    # the loader packs on the CPU by default, only what gains: nothing of the reference checkpoints (32 and 64
    # input features), a wide matrix of 1 MB or more
    assert not load_heartmula(heartmula_ref / "tiny" / "HeartMuLa-sharp").is_packed
    assert worth_packing(torch.zeros(1024, MIN_PACKED_INPUTS)) and not worth_packing(torch.zeros(8197, 32))
    assert not worth_packing(torch.zeros(16, MIN_PACKED_INPUTS))  # wide, but small


@pytest.mark.parametrize("name", ["tiny", "sharp"])
def test_packed_weights_give_the_official_greedy_frames(packed_case, name):
    golden, model, prompt = packed_case(name)
    ref = golden["gen_cfg15_topk1_frames"]
    out = generate_tokens(model, prompt, frames=len(ref), cfg_scale=1.5, topk=1)
    assert np.array_equal(out.tokens[0].numpy(), ref)


def test_packed_weights_give_the_official_sampled_frames(packed_case):
    golden, model, prompt = packed_case("sharp")
    ref = golden["gen_cfg15_topk50_seed0_frames"]
    gen = torch.Generator().manual_seed(int(golden["sampled_seed"]))
    out = generate_tokens(model, prompt, frames=len(ref), cfg_scale=1.5, topk=50, generators=[gen])
    assert np.array_equal(out.tokens[0].numpy(), ref)


def test_a_packed_model_takes_any_batch_and_refuses_int8(heartmula_ref):
    model = load_heartmula(heartmula_ref / "tiny" / "HeartMuLa-sharp", packed=False)
    plain_logits = model.codebook0_head(torch.ones(5, model.config.backbone.embed_dim))
    model.pack_weights(rows=2, min_bytes=0)
    packed_logits = model.codebook0_head(torch.ones(5, model.config.backbone.embed_dim))  # 5 rows, tuned for 2
    torch.testing.assert_close(packed_logits, plain_logits, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="packed"):
        model.quantize_int8()


def test_compiled_frames_with_packed_weights_are_the_official_ones(packed_case):
    """The packed product is a custom op: `torch.compile` keeps it as one call in its graph."""
    golden, model, prompt = packed_case("sharp")
    ref = golden["gen_cfg15_topk50_seed0_frames"]
    gens = [torch.Generator().manual_seed(int(golden["sampled_seed"]))]
    out = generate_tokens(model, prompt, frames=len(ref), cfg_scale=1.5, topk=50, generators=gens, compiled=True)
    assert np.array_equal(out.tokens[0].numpy(), ref)
