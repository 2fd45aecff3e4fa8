"""The tiny MuQ-MuLan checkpoint, loaded through `load_mulan`, against every key of golden_tiny.npz.

Tolerances are the reference README's: mel dB 1e-3; normalised mel, conv, hidden states 1e-4; pooled
vectors and latents 1e-5; similarities 1e-6. The filterbank and window are compared bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from heartmula_core.style import StyleEncoder, load_mulan
from heartmula_core.style.clips import clip_spans, cut_clips
from heartmula_core.style.mulan import Trace
from tests.core.golden import assert_all_used

MEL_DB_ATOL = 1e-3
ACT_ATOL = 1e-4
LATENT_ATOL = 1e-5
SIM_ATOL = 1e-6
AUDIO = ("audio10", "audio35")
CHECKED: set[str] = set()  # every golden key a test compared, for the coverage test at the end


@pytest.fixture(scope="module")
def golden(muq_ref: Path):
    with np.load(muq_ref / "golden_tiny.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def mulan(muq_ref: Path):
    return load_mulan(muq_ref / "tiny" / "MuQ-MuLan-tiny")


def close(golden: dict, key: str, value, atol: float) -> float:
    """Assert |value - golden[key]| <= atol everywhere; return the max error (reported on failure)."""
    expected = golden[key]
    got = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
    assert got.shape == expected.shape, (key, got.shape, expected.shape)
    err = float(np.abs(got - expected).max())
    assert err <= atol, f"{key}: max error {err:.3g} > {atol:g}"
    CHECKED.add(key)
    return err


def equal(golden: dict, key: str, value) -> None:
    got = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    np.testing.assert_array_equal(got, golden[key], err_msg=key)
    CHECKED.add(key)


def test_front_end_constants(golden, mulan):
    frontend = mulan.model.audio.frontend
    window, fbank = frontend.tables(torch.device("cpu"))
    equal(golden, "mel_fbanks", fbank)  # bit for bit: the double-precision endpoints recipe
    equal(golden, "stft_window", window)
    equal(golden, "mel_mean", frontend.cfg.mel_mean)
    equal(golden, "mel_std", frontend.cfg.mel_std)


@pytest.mark.parametrize("prefix", AUDIO)
def test_audio_clips_every_stage(golden, mulan, prefix):
    model = mulan.model
    wave = torch.from_numpy(golden[f"{prefix}_wav"])
    CHECKED.add(f"{prefix}_wav")
    equal(golden, f"{prefix}_clip_spans", np.array(clip_spans(wave.shape[0], model.cfg.clip_samples)))
    latents = []
    with torch.inference_mode():
        for i, clip in enumerate(cut_clips(wave, model.cfg.clip_samples)):
            p = f"{prefix}_clip{i}"
            trace = Trace()
            latent = model.clip_latents(clip[None], trace)[0]
            close(golden, f"{p}_mel_db", model.audio.frontend.decibels(clip[None])[0], MEL_DB_ATOL)
            if f"{p}_mel_norm" in golden:
                close(golden, f"{p}_mel_norm", trace.stages["mel_norm"][0], ACT_ATOL)
            close(golden, f"{p}_conv", trace.stages["conv"][0], ACT_ATOL)
            close(golden, f"{p}_hidden", torch.stack([h[0] for h in trace.hidden_states]), ACT_ATOL)
            close(golden, f"{p}_proj", trace.stages["proj"][0], ACT_ATOL)
            close(golden, f"{p}_tf_out", trace.stages["proj"][0], ACT_ATOL)  # the audio transformer is empty
            close(golden, f"{p}_pooled", trace.stages["pooled"][0], LATENT_ATOL)
            close(golden, f"{p}_latent_prenorm", trace.stages["latent_prenorm"][0], LATENT_ATOL)
            close(golden, f"{p}_latent", latent, LATENT_ATOL)
            latents.append(latent)
    close(golden, f"{prefix}_clip_latents", torch.stack(latents), LATENT_ATOL)


@pytest.mark.parametrize("prefix", AUDIO)
def test_audio_embeddings_sequential_and_batched(golden, mulan, prefix):
    wave = golden[f"{prefix}_wav"]
    sequential = StyleEncoder(mulan, clip_batch=1).embed_audio(wave, sample_rate=24000)
    batched = StyleEncoder(mulan, clip_batch=8).embed_audio(wave, sample_rate=24000)
    close(golden, f"{prefix}_embed", sequential[None], LATENT_ATOL)
    close(golden, f"{prefix}_embed_parallel", batched[None], LATENT_ATOL)


@pytest.mark.parametrize("j", [0, 1])
def test_text_every_stage(golden, mulan, j):
    text = str(golden["text_prompts"][j])
    ids, mask = mulan.tokenizer([text])
    equal(golden, f"text{j}_input_ids", ids[0])
    equal(golden, f"text{j}_attention_mask", mask[0])
    trace = Trace()
    with torch.inference_mode():
        latent = mulan.model.text_latents(ids, mask, trace)[0]
    close(golden, f"text{j}_xlmr_hidden", torch.stack([h[0] for h in trace.hidden_states]), ACT_ATOL)
    close(golden, f"text{j}_tf_layers", trace.stages["tf_layers"][0], ACT_ATOL)
    close(golden, f"text{j}_pooled", trace.stages["pooled"][0], LATENT_ATOL)
    close(golden, f"text{j}_latent_prenorm", trace.stages["latent_prenorm"][0], LATENT_ATOL)
    close(golden, f"text{j}_embed", latent, LATENT_ATOL)
    close(golden, f"text{j}_embed", StyleEncoder(mulan).embed_text(text), LATENT_ATOL)


def test_text_padded_batch(golden, mulan):
    prompts = [str(p) for p in golden["text_prompts"]]
    CHECKED.add("text_prompts")
    ids, mask = mulan.tokenizer(prompts)
    equal(golden, "text_batch_input_ids", ids)
    equal(golden, "text_batch_attention_mask", mask)
    batch = StyleEncoder(mulan).embed_text(prompts)
    close(golden, "text_batch_embeds", batch, LATENT_ATOL)
    # The padding moves the shorter prompt: batched and alone differ, as the reference documents.
    assert float((batch[1] - torch.from_numpy(golden["text1_embed"])).abs().max()) > 1e-2


def test_similarities(golden, mulan):
    encoder = StyleEncoder(mulan)
    prompts = [str(p) for p in golden["text_prompts"]]
    batch = encoder.embed_text(prompts)
    alone = torch.stack([encoder.embed_text(p) for p in prompts])
    for prefix in AUDIO:
        audio = encoder.embed_audio(golden[f"{prefix}_wav"], sample_rate=24000)[None]
        close(golden, f"sim_{prefix}_textbatch", audio @ batch.T, SIM_ATOL)
        close(golden, f"sim_{prefix}_textindiv", audio @ alone.T, SIM_ATOL)
    audio35 = encoder.embed_audio(golden["audio35_wav"], sample_rate=24000)[None]
    cosine = torch.nn.functional.cosine_similarity(audio35[:, None], batch[None], dim=-1)
    close(golden, "cos_audio35_textbatch", cosine, SIM_ATOL)


def test_every_golden_key_was_checked(golden, request):
    """Runs last in this module: no golden array is left uncompared (when the whole module ran)."""
    assert_all_used(golden, CHECKED, request)
