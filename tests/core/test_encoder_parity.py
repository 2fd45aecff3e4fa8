"""The HeartCodec encoder on the tiny checkpoints, through the real loading code, against every golden key.

Tolerances follow the reference README: resampling is exact (1e-6), mel and every feature stream 1e-4,
the query output 1e-4 relative to its largest value. Tokens are compared exactly wherever the official
margin (second-best minus best distance) is at least 1e-4 at that quantizer and at every earlier one of the
frame: a near-tie that flips changes the residual, so the later quantizers of that frame may differ too.
HeartCodec-tiny's codebooks make most of its tokens near-ties (the README's pitfall), so the sharp RVQ
carries the exact comparison and the tiny one is checked where it can be.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from heartmula_core.codec.encoder import load_encoder
from heartmula_core.codec.encoder.checkpoint import load_quantizer, load_query
from heartmula_core.codec.encoder.config import CHUNK_SAMPLES
from heartmula_core.codec.encoder.model import EncoderTrace
from heartmula_core.codec.encoder.resample import resampled_length
from tests.core.codec_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)

ATOL = 1e-4
AUDIO_ATOL = 1e-6
QUERY_RTOL = 1e-4
MARGIN = 1e-4
CASES = ("s48_short", "m441_onechunk", "s24_35s", "m24_floorflip")
STREAMS = ("acoustic", "semantic", "whisper", "wavlm")
CHECKED: set[str] = set()  # every golden key some test compared, for the coverage test at the end


class Goldens:
    """The goldens, the tiny encoder (HeartCodec-tiny quantizer), the sharp quantizer, and cached runs."""

    def __init__(self, root: Path, codecs: Path) -> None:
        with np.load(root / "golden_tiny.npz") as archive:
            self.data = dict(archive)
        self.encoder = load_encoder(root / "HeartCodec-encoder-tiny", codecs / "HeartCodec-tiny")
        self.sharp = load_quantizer(codecs / "HeartCodec-sharp", self.encoder.network.cfg.query.dim)
        self.query_partial = load_query(root / "query-partial-rope")

    def input(self, case: str) -> tuple[np.ndarray, int]:
        """The case's float input exactly as the goldens were made: int16 PCM / 32768, its layout kept."""
        pcm = self.data[f"{case}/input_pcm16"].astype(np.float32) / 32768
        CHECKED.update({f"{case}/input_pcm16", f"{case}/sample_rate"})
        return (pcm[0] if case == "m24_floorflip" else pcm), int(self.data[f"{case}/sample_rate"])  # 1-D mono there

    @functools.cache
    def run(self, case: str) -> tuple[torch.Tensor, EncoderTrace]:
        """tokenize's codes (frames, 8) and its trace; two chunks per batch, so s24_35s runs as one batch."""
        trace = EncoderTrace()
        codes = self.encoder.tokenize(*self.input(case), batch_size=2, trace=trace)
        return codes, trace


@pytest.fixture(scope="module")
def goldens(encoder_ref: Path, heartmula_ref: Path) -> Goldens:
    return Goldens(encoder_ref, heartmula_ref / "tiny")


def close(goldens: Goldens, key: str, value: torch.Tensor, atol: float) -> float:
    expected = goldens.data[key]
    got = value.detach().cpu().double().numpy()
    assert got.shape == expected.shape, (key, got.shape, expected.shape)
    err = float(np.abs(got - expected).max())
    assert err <= atol, f"{key}: max error {err:.3g} > {atol:g}"
    CHECKED.add(key)
    return err


def confident(margins: np.ndarray, floor: float, strict: bool) -> np.ndarray:
    """(8, F) bool: positions whose margin and every earlier quantizer's margin (same frame) clear `floor`."""
    clear = margins > floor if strict else margins >= floor
    return np.logical_and.accumulate(clear, axis=0)


def tokens_match(goldens: Goldens, key: str, codes: torch.Tensor, strict: bool) -> int:
    """Assert codes (F, 8) equal the golden (8, F) wherever confident; return how many were compared."""
    expected = goldens.data[key]
    got = codes.T.numpy()
    assert got.shape == expected.shape and got.dtype == np.int64, (key, got.shape, got.dtype)
    mask = confident(goldens.data[f"{key}_margin"], MARGIN, strict)
    mismatched = np.argwhere((got != expected) & mask)
    assert len(mismatched) == 0, f"{key}: {len(mismatched)} confident tokens differ, first at {mismatched[0]}"
    CHECKED.update({key, f"{key}_margin"})
    return int(mask.sum())


@pytest.mark.parametrize("case", CASES)
def test_resampled_audio(goldens: Goldens, case: str) -> None:
    _, trace = goldens.run(case)
    audio = trace.audio_24k
    wave, rate = goldens.input(case)
    assert audio.shape[1] == resampled_length(wave.shape[-1], rate, 24000)
    if rate == 24000:  # used as is: the two channels are the input's (mono duplicated)
        np.testing.assert_array_equal(audio.numpy(), np.broadcast_to(wave, (2, wave.shape[-1])))
        return
    assert audio.shape == (2, int(goldens.data[f"{case}/audio_24k_len"]))
    CHECKED.add(f"{case}/audio_24k_len")
    if f"{case}/audio_24k" in goldens.data:
        close(goldens, f"{case}/audio_24k", audio, AUDIO_ATOL)
    else:
        close(goldens, f"{case}/audio_24k_head", audio[:, :24000], AUDIO_ATOL)
        close(goldens, f"{case}/audio_24k_tail", audio[:, -24000:], AUDIO_ATOL)


def test_first_chunk_inputs_of_each_extractor(goldens: Goldens) -> None:
    """s48_short's chunk 0: MusicFM mel (dB, every frame), the 16 kHz resample, Whisper's log-mel."""
    _, trace = goldens.run("s48_short")
    features = goldens.encoder.network.features
    rows = torch.nn.functional.pad(trace.audio_24k, (0, CHUNK_SAMPLES + 240 - trace.audio_24k.shape[1]))
    with torch.inference_mode():
        close(goldens, "s48_short/musicfm_mel_db", features.musicfm.frontend.all_decibels(rows[:, :CHUNK_SAMPLES]), ATOL)
        wave16k = features.to_speech_rate(rows)
        assert wave16k.shape == (2, 476_320)
        close(goldens, "s48_short/wav16k_chunk0_head", wave16k[:, :80_000], AUDIO_ATOL)
        close(goldens, "s48_short/wav16k_chunk0_tail", wave16k[:, -2_000:], AUDIO_ATOL)
        close(goldens, "s48_short/whisper_input_mel_chunk0", features.whisper_mel(wave16k), ATOL)


@pytest.mark.parametrize("case", CASES)
def test_feature_streams_and_query(goldens: Goldens, case: str) -> None:
    _, trace = goldens.run(case)
    for stream in STREAMS:
        close(goldens, f"{case}/{stream}", torch.cat([getattr(f, stream) for f in trace.features]), ATOL)
    expected = goldens.data[f"{case}/query_out"]
    close(goldens, f"{case}/query_out", torch.cat(trace.query_out), QUERY_RTOL * float(np.abs(expected).max()))


@pytest.mark.parametrize("case", CASES)
def test_tokens_with_both_quantizers(goldens: Goldens, case: str) -> None:
    codes, trace = goldens.run(case)
    frames = goldens.data[f"{case}/tokens"].shape[1]
    assert codes.shape == (frames, 8)
    sharp = goldens.sharp(torch.cat(trace.query_out)).reshape(-1, 8)[:frames]
    compared = tokens_match(goldens, f"{case}/tokens_sharp_rvq", sharp, strict=False)
    assert compared >= 0.95 * sharp.numel()  # the sharp codebooks leave few near-ties: most tokens are compared
    tokens_match(goldens, f"{case}/tokens", codes, strict=True)


def test_frame_count_rule_on_goldens(goldens: Goldens) -> None:
    """Exactly one chunk asks for 373 frames and gets 372; 55,680 samples give 29 frames, not 30."""
    assert goldens.run("m441_onechunk")[0].shape[0] == 372
    assert goldens.run("m24_floorflip")[0].shape[0] == 29


def test_query_partial_rope(goldens: Goldens) -> None:
    streams = [torch.from_numpy(goldens.data[f"querypartial/{s}"]) for s in STREAMS]
    CHECKED.update(f"querypartial/{s}" for s in STREAMS)
    query = goldens.query_partial
    assert query.cfg.head_dim > query.blocks[0].rope.dim  # RoPE really is partial here
    with torch.inference_mode():
        out = query(*streams)
    expected = goldens.data["querypartial/query_out"]
    close(goldens, "querypartial/query_out", out, QUERY_RTOL * float(np.abs(expected).max()))


def test_every_golden_key_was_checked(goldens: Goldens, request) -> None:
    """Runs last in this module: no golden array is left uncompared (when the whole module ran)."""
    module_tests = {item.name for item in request.node.parent.collect()}
    selected = {item.name for item in request.session.items if item.parent is request.node.parent}
    if selected != module_tests:
        pytest.skip("only part of this module was selected")
    assert set(goldens.data) - CHECKED == set()
