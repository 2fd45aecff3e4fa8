"""Parity with the official HeartMuLa on both reference checkpoints (tiny and sharp), through the real loader.

Tolerances are the reference README's. The sharp set is the one that catches RoPE, llama3-scaling,
GQA-mapping and attention mistakes; the tiny set pins the data flow and cfg 1.0.
"""

import numpy as np
import pytest
import torch

from heartmula_core.lm.generation import FramePicker, generate_tokens

from .heartmula_support import one_thread, sharp, tiny  # noqa: F401 (fixtures)

TOL = {  # kind -> (rtol, atol)
    "tiny": {"embeds": (0, 1e-6), "hidden": (0, 1e-6), "logits": (1e-4, 1e-8)},
    "sharp": {"embeds": (0, 1e-6), "hidden": (1e-4, 1e-5), "logits": (1e-4, 1e-5)},
}


def close(name, kind, ours, ref):
    rtol, atol = TOL[name][kind]
    np.testing.assert_allclose(ours.detach().numpy(), ref, rtol=rtol, atol=atol)


@pytest.mark.parametrize("which", ["tiny", "sharp"])
def test_prompt_layout(request, which):
    case = request.getfixturevalue(which)
    assert np.array_equal(case.prompt.tokens.numpy(), case.golden["prompt_tokens"])
    assert np.array_equal(case.prompt.mask.numpy(), case.golden["prompt_mask"])
    assert case.prompt.muq_idx == int(case.golden["muq_idx"])
    assert not case.golden["muq_embed_input"].any()  # the official style input is zeros, as ours by default


@torch.inference_mode()
@pytest.mark.parametrize(("which", "cfg"), [("tiny", 1.0), ("tiny", 1.5), ("sharp", 1.5)])
def test_first_frame_intermediates(request, which, cfg):
    case = request.getfixturevalue(which)
    model, prompt, golden = case.model, case.prompt, case.golden
    key = f"cfg{round(cfg * 10)}_"
    rows = 1 if cfg == 1.0 else 2
    model.setup_caches(rows)
    tokens, mask = prompt.tokens.expand(rows, -1, -1), prompt.mask.expand(rows, -1, -1)
    h = model.embed_prompt(tokens, mask, prompt.muq_idx, torch.zeros(1, 512), uncond_rows=rows - 1)
    close(which, "embeds", h, golden[key + "backbone_input_embeds"])
    hidden = model.backbone(h, 0)
    close(which, "hidden", hidden, golden[key + "backbone_last_hidden"])
    close(which, "logits", model.codebook0_head(hidden[:, -1]), golden[key + "c0_logits_raw"])

    picker = FramePicker(
        8197, books=8, cfg_scale=cfg, topk=1, temperature=1.0, generators=[None], device=model.device
    )
    picker.start_frame(first=True)
    seen = []

    def pick(logits, book):
        seen.append(picker.sampler_logits(logits)[0])
        return picker(logits, book)

    codes = model.generate_frame(hidden[:, -1], pick)
    close(which, "logits", torch.stack(seen), golden[key + "first_frame_sampler_logits"])
    assert codes[0].tolist() == golden[key + "first_frame_topk1"].tolist()
    assert (codes[0] == codes[-1]).all()  # both rows of a guided pair get the same codes


@pytest.mark.parametrize("which", ["tiny", "sharp"])
def test_greedy_frames(request, which):
    case = request.getfixturevalue(which)
    ref = case.golden["gen_cfg15_topk1_frames"]
    out = generate_tokens(case.model, case.prompt, frames=len(ref), cfg_scale=1.5, topk=1)
    assert out.lengths == [len(ref)]
    assert np.array_equal(out.tokens[0].numpy(), ref)


def test_sampled_frames_seed0(sharp):
    ref = sharp.golden["gen_cfg15_topk50_seed0_frames"]
    seed = int(sharp.golden["sampled_seed"])
    gen = torch.Generator().manual_seed(seed)  # the same stream as torch.manual_seed(seed) on the CPU
    out = generate_tokens(sharp.model, sharp.prompt, frames=len(ref), cfg_scale=1.5, topk=50, generators=[gen])
    assert np.array_equal(out.tokens[0].numpy(), ref)
    torch.manual_seed(seed)  # no generator: torch's default one, as the official code draws
    out = generate_tokens(sharp.model, sharp.prompt, frames=len(ref), cfg_scale=1.5, topk=50)
    assert np.array_equal(out.tokens[0].numpy(), ref)


def test_stops_on_end_of_audio(sharp):
    golden = sharp.golden
    budget = int(golden["stop_budget_max_audio_length_ms"]) // 80 + 1
    out = generate_tokens(sharp.model, sharp.prompt, frames=budget, cfg_scale=1.5, topk=1)
    assert bool(golden["stop_hit_eos"])
    assert out.lengths == [int(golden["stop_frames_returned"])]
    assert np.array_equal(out.tokens[0].numpy(), golden["stop_frames"])
