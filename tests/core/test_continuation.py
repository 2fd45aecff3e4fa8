"""Continuing a song from kept frames (issue 18): parity with the official code, the CLI, and the checks.

The goldens (tests/fixtures/heartmula_continue, README there) come from the official pipeline on
HeartMuLa-sharp with its prompt extended by the prefix rows: greedy and seeded sampling (temperature 0.8),
a 200-frame prefix of arbitrary codes and a 5-frame prefix of the model's own sampled song.
"""

import numpy as np
import pytest
import torch

from heartmula_core.cli import main
from heartmula_core.lm.continuation import as_prefix
from heartmula_core.errors import InvalidRequest
from heartmula_core.lm.generation import generate_tokens
from heartmula_core.request import cut_at, parse_time

from .heartmula_support import one_thread, sharp  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def golden(heartmula_ref):
    return np.load(heartmula_ref.parent / "heartmula_continue" / "continue_sharp.npz")


@pytest.fixture(scope="module")
def case(sharp, golden):
    """The sharp model with the continuation goldens' prompt (the sharp goldens' tags and lyrics)."""
    assert str(golden["tags_text"]) == str(sharp.golden["tags_text"])
    assert sharp.prompt.length == int(golden["prompt_length"])
    return sharp


@pytest.mark.parametrize("which", ["long", "short"])
def test_greedy_continuation_gives_the_official_frames(case, golden, which):
    prefix = golden[f"prefix_{which}"]
    ref = golden[f"greedy_{which}_frames"]
    out = generate_tokens(case.model, case.prompt, frames=len(ref), topk=1, prefix=torch.from_numpy(prefix))
    song = out.variant(0).numpy()
    assert np.array_equal(song[: len(prefix)], prefix)  # the song starts with the kept frames, unchanged
    assert np.array_equal(song[len(prefix):], ref)


@pytest.mark.parametrize("which", ["long", "short"])
def test_seeded_continuation_gives_the_official_frames(case, golden, which):
    prefix = torch.from_numpy(golden[f"prefix_{which}"])
    ref = golden[f"sampled_{which}_frames"]
    seed = int(golden[f"sampled_{which}_seed"])
    temperature, topk = float(golden["sampled_temperature"]), int(golden["sampled_topk"])
    torch.manual_seed(seed)  # no generator: torch's default one, as the official code after manual_seed
    out = generate_tokens(case.model, case.prompt, frames=len(ref), topk=topk, temperature=temperature, prefix=prefix)
    assert np.array_equal(out.variant(0)[len(prefix):].numpy(), ref)


def test_batched_variants_continue_the_same_prefix_each_with_its_seed(case, golden):
    prefix = torch.from_numpy(golden["prefix_short"])
    seed = int(golden["sampled_short_seed"])
    refs = [golden["sampled_short_frames"], golden["sampled_short_seed_plus1_frames"]]
    generators = [torch.Generator().manual_seed(s) for s in (seed, seed + 1)]
    out = generate_tokens(case.model, case.prompt, frames=len(refs[0]), topk=int(golden["sampled_topk"]),
                          temperature=float(golden["sampled_temperature"]), generators=generators, prefix=prefix)
    for variant, ref in enumerate(refs):
        song = out.variant(variant).numpy()
        assert np.array_equal(song[: len(prefix)], prefix.numpy())
        assert np.array_equal(song[len(prefix):], ref)


def test_on_frame_sees_the_whole_song_and_progress_counts_new_frames(case, golden):
    prefix = torch.from_numpy(golden["prefix_short"])
    seen, steps = [], []
    generate_tokens(case.model, case.prompt, frames=3, topk=1, prefix=prefix,
                    on_frame=lambda tokens, lengths: seen.append((tokens.shape[1], lengths.tolist())),
                    progress=lambda done, total: steps.append((done, total)))
    kept = len(prefix)
    assert seen == [(kept + 1, [kept + 3]), (kept + 2, [kept + 3]), (kept + 3, [kept + 3])]
    assert steps == [(1, 3), (2, 3), (3, 3)]


def test_too_long_a_continuation_is_one_clear_error(case, golden):
    prefix = torch.from_numpy(golden["prefix_long"])
    context = case.model.config.backbone.max_seq_len
    room = context - case.prompt.length - len(prefix)
    with pytest.raises(InvalidRequest, match=f"200 kept frames plus {room + 1} new frames exceeds the model's "
                                             f"context of {context}; ask for at most {room} new frames"):
        generate_tokens(case.model, case.prompt, frames=room + 1, topk=1, prefix=prefix)


@pytest.mark.parametrize(
    ("codes", "needle"),
    [
        (np.full((3, 8), 8193), "codes the codec cannot decode"),
        (np.full((3, 8), -1), "codes the codec cannot decode"),
        (np.zeros((0, 8), np.int64), "no frames"),
        (np.zeros((3, 7), np.int64), r"shape \[frames, 8\]"),
        (np.zeros((3, 8), np.float32), "integer codes"),
    ],
)
def test_a_prefix_the_codec_cannot_decode_is_refused(codes, needle):
    with pytest.raises(InvalidRequest, match=needle):
        as_prefix(codes)


def test_a_cut_keeps_round_t_times_the_frame_rate():
    assert cut_at(10.0) == 125
    assert cut_at(0.2) == 2  # 2.5 rounds to even, as round() does
    assert cut_at(61.3) == round(61.3 * 12.5)
    assert cut_at(0.01) == 1  # at least one frame
    with pytest.raises(InvalidRequest, match="after the start"):
        cut_at(0.0)


@pytest.mark.parametrize(("text", "seconds"), [("75", 75.0), ("1:15", 75.0), ("01:15.5", 75.5), (" 0:05 ", 5.0), (12, 12.0)])
def test_times_are_seconds_or_mm_ss(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:75", "-3", "1:2:3", "nan", ":30"])
def test_a_bad_time_is_one_clear_error(text):
    with pytest.raises(InvalidRequest, match="seconds or mm:ss"):
        parse_time(text)


def cli_args(heartmula_ref, golden, tmp_path, out, *extra):
    tiny = heartmula_ref / "tiny"
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text(str(golden["lyrics_text"]), encoding="utf-8")
    return ["tokens", "--lm", str(tiny / "HeartMuLa-sharp"), "--gen", str(tiny / "HeartMuLaGen-tiny"),
            "--tags", str(golden["tags_text"]), "--lyrics-file", str(lyrics), "--out", str(out), *extra]


def test_cli_continue_writes_the_prefix_then_the_official_frames(heartmula_ref, golden, tmp_path, capsys, one_thread):
    prefix_file = tmp_path / "prefix.npy"
    np.save(prefix_file, golden["prefix_short"])
    ref = golden["sampled_short_frames"]
    out = tmp_path / "song.npy"
    args = cli_args(heartmula_ref, golden, tmp_path, out, "--continue", str(prefix_file), "--frames", str(len(ref)),
                    "--seed", str(int(golden["sampled_short_seed"])), "--temperature",
                    str(float(golden["sampled_temperature"])))
    assert main(args) == 0
    song = np.load(out)
    assert np.array_equal(song, np.concatenate([golden["prefix_short"], ref]))
    assert f"wrote {5 + len(ref)} frames (5 kept, {len(ref)} new)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (np.full((4, 8), 8192), "codes the codec cannot decode"),
        (None, "no such file"),
        (b"not an array", "not a .npy file"),
    ],
)
def test_cli_continue_bad_prefix_is_one_line_exit_2(heartmula_ref, golden, tmp_path, capsys, content, needle):
    prefix_file = tmp_path / "prefix.npy"
    if isinstance(content, bytes):
        prefix_file.write_bytes(content)
    elif content is not None:
        np.save(prefix_file, content)
    out = tmp_path / "song.npy"
    code = main(cli_args(heartmula_ref, golden, tmp_path, out, "--continue", str(prefix_file), "--frames", "3"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and needle in err
    assert not out.exists()


def test_cli_continue_too_long_is_refused_before_loading(heartmula_ref, golden, tmp_path, capsys):
    prefix_file = tmp_path / "prefix.npy"
    np.save(prefix_file, golden["prefix_long"])
    out = tmp_path / "song.npy"
    code = main(cli_args(heartmula_ref, golden, tmp_path, out, "--continue", str(prefix_file), "--frames", "2000"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "200 kept frames plus 2000 new frames exceeds" in err
    assert not out.exists()


@torch.inference_mode()
@pytest.mark.parametrize("which", ["long", "short"])
def test_first_new_frame_logits_match_the_official_ones(case, golden, which):
    from heartmula_core.lm.continuation import extend_prompt
    from heartmula_core.lm.generation import prefill

    prompt = extend_prompt(case.prompt, as_prefix(golden[f"prefix_{which}"]))
    case.model.setup_caches(2)
    last_h = prefill(case.model, prompt, torch.zeros(1, 512), uncond_rows=1)
    np.testing.assert_allclose(case.model.codebook0_head(last_h).numpy(), golden[f"greedy_{which}_first_c0_logits_raw"],
                               rtol=1e-4, atol=1e-5)
