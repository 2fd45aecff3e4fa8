"""`python -m heartmula_core tokens`: reproduces the official frames; every bad input is one line, exit 2."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from heartmula_core.cli import main

from .heartmula_support import one_thread  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def paths(heartmula_ref, one_thread):
    tiny = heartmula_ref / "tiny"
    return {"tiny": tiny / "HeartMuLa-tiny", "sharp": tiny / "HeartMuLa-sharp", "gen": tiny / "HeartMuLaGen-tiny"}


def tokens_args(lm, gen, out, *, tags="pop,piano", lyrics="[verse]\nla la la", frames=3, extra=()):
    return ["tokens", "--lm", str(lm), "--gen", str(gen), "--tags", tags, "--lyrics", lyrics,
            "--frames", str(frames), "--out", str(out), *extra]


@pytest.mark.parametrize("which", ["tiny", "sharp"])
def test_greedy_frames_match_the_official_ones(paths, heartmula_ref, tmp_path, which, capsys):
    golden = np.load(heartmula_ref / "golden" / f"heartmula_{which}.npz")
    ref = golden["gen_cfg15_topk1_frames"]
    lyrics_file = tmp_path / "lyrics.txt"
    lyrics_file.write_text(str(golden["lyrics_text"]), encoding="utf-8")
    out = tmp_path / "tokens.npy"
    code = main(["tokens", "--lm", str(paths[which]), "--gen", str(paths["gen"]), "--tags", str(golden["tags_text"]),
                 "--lyrics-file", str(lyrics_file), "--frames", str(len(ref)), "--topk", "1", "--out", str(out)])
    assert code == 0
    saved = np.load(out)
    assert saved.dtype == np.int64 and saved.shape == ref.shape
    assert np.array_equal(saved, ref)
    assert f"wrote {len(ref)} frames" in capsys.readouterr().out


def test_seeded_frames_match_the_official_ones_and_repeat(paths, heartmula_ref, tmp_path):
    golden = np.load(heartmula_ref / "golden" / "heartmula_sharp.npz")
    ref = golden["gen_cfg15_topk50_seed0_frames"]
    outs = []
    for run in range(2):
        out = tmp_path / f"run{run}.npy"
        args = tokens_args(paths["sharp"], paths["gen"], out, tags=str(golden["tags_text"]),
                           lyrics=str(golden["lyrics_text"]), frames=len(ref), extra=["--seed", "0", "--cfg", "1.5"])
        assert main(args) == 0
        outs.append(np.load(out))
    assert np.array_equal(outs[0], ref) and np.array_equal(outs[1], ref)


def test_stops_early_when_the_song_ends(paths, heartmula_ref, tmp_path):
    golden = np.load(heartmula_ref / "golden" / "heartmula_sharp.npz")
    out = tmp_path / "stop.npy"
    args = tokens_args(paths["sharp"], paths["gen"], out, tags=str(golden["tags_text"]),
                       lyrics=str(golden["lyrics_text"]), frames=200, extra=["--topk", "1"])
    assert main(args) == 0
    assert np.array_equal(np.load(out), golden["stop_frames"])


def broken_copy(src, dst, edit_state=None, edit_config=None):
    shutil.copytree(src, dst)
    if edit_state is not None:
        state = load_file(dst / "model.safetensors")
        edit_state(state)
        save_file(state, dst / "model.safetensors")
    if edit_config is not None:
        config = json.loads((dst / "config.json").read_text())
        edit_config(config)
        (dst / "config.json").write_text(json.dumps(config))
    return dst


def _missing(state):
    del state["backbone.layers.1.mlp.w3.weight"]


def _extra(state):
    state["backbone.layers.2.attn.q_proj.weight"] = state["backbone.layers.1.attn.q_proj.weight"].clone()


def _misshaped(state):
    state["decoder.layers.0.attn.k_proj.weight"] = state["decoder.layers.0.attn.k_proj.weight"][:8].clone()


def _unknown_flavor(config):
    config["backbone_flavor"] = "llama-13B"
    del config["flavor_specs"]["llama-tiny-backbone"]


BAD_LM = {
    "missing tensor": ({"edit_state": _missing}, "missing 1: backbone.layers.1.mlp.w3.weight"),
    "extra tensor": ({"edit_state": _extra}, "unexpected 1: backbone.layers.2.attn.q_proj.weight"),
    "mis-shaped tensor": ({"edit_state": _misshaped}, "mis-shaped 1: decoder.layers.0.attn.k_proj.weight"),
    "unknown flavor": ({"edit_config": _unknown_flavor}, "unknown backbone flavor 'llama-13B'"),
}


def assert_one_line_exit_2(capsys, code, needle, out=None):
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and needle in err, err
    assert "Traceback" not in err
    if out is not None:
        assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))


@pytest.mark.parametrize("problem", list(BAD_LM))
def test_bad_checkpoint(paths, tmp_path, capsys, problem):
    edits, needle = BAD_LM[problem]
    lm = broken_copy(paths["tiny"], tmp_path / "lm", **edits)
    out = tmp_path / "t.npy"
    assert_one_line_exit_2(capsys, main(tokens_args(lm, paths["gen"], out)), needle, out)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"lm": "missing-folder"}, "folder not found"),
        ({"gen": "missing-folder"}, "folder not found"),
        ({"tags": "", "lyrics": ""}, "tags are empty"),
        ({"lyrics": "   "}, "lyrics are empty"),
        ({"frames": 0}, "frames must be at least 1"),
        ({"frames": 4000}, "exceeds the model's context of 2048"),
        ({"extra": ["--dtype", "float64"]}, "unknown dtype 'float64'"),
        ({"extra": ["--device", "tpu9"]}, "device"),
        ({"extra": ["--cfg", "0.5"]}, "cfg scale"),
        ({"out": "no-such-dir/t.npy"}, "output folder does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(paths, tmp_path, capsys, change, needle):
    lm = tmp_path / change.pop("lm") if "lm" in change else paths["tiny"]
    gen = tmp_path / change.pop("gen") if "gen" in change else paths["gen"]
    out = tmp_path / change.pop("out", "t.npy")
    args = tokens_args(lm, gen, out, **change)
    assert_one_line_exit_2(capsys, main(args), needle, out if out.parent.is_dir() else None)


def test_missing_lyrics_file(paths, tmp_path, capsys):
    args = tokens_args(paths["tiny"], paths["gen"], tmp_path / "t.npy")
    i = args.index("--lyrics")
    args[i : i + 2] = ["--lyrics-file", str(tmp_path / "nope.txt")]
    assert_one_line_exit_2(capsys, main(args), "nope.txt")


def test_the_codec_folder_given_as_lm_names_its_config(paths, heartmula_ref, tmp_path, capsys):
    codec = heartmula_ref / "tiny" / "HeartCodec-tiny"
    out = tmp_path / "t.npy"
    assert_one_line_exit_2(capsys, main(tokens_args(codec, paths["gen"], out)),
                           f"{codec / 'config.json'}: not a HeartMuLa LM config", out)


def test_a_typed_backslash_n_is_a_line_break_as_in_generate(paths, tmp_path):
    (tmp_path / "lyrics.txt").write_text("[verse]\nla la la\nna na", encoding="utf-8")
    typed, from_file = tmp_path / "typed.npy", tmp_path / "file.npy"
    # The sharp model, whose tokens follow the prompt (the tiny one makes these 3 frames from either text).
    assert main(tokens_args(paths["sharp"], paths["gen"], typed, lyrics="[verse]\\nla la la\\nna na",
                            extra=("--seed", "5"))) == 0
    args = tokens_args(paths["sharp"], paths["gen"], from_file, extra=("--seed", "5"))
    i = args.index("--lyrics")
    args[i : i + 2] = ["--lyrics-file", str(tmp_path / "lyrics.txt")]
    assert main(args) == 0
    assert np.array_equal(np.load(typed), np.load(from_file))


def test_subprocess_usage_error_is_one_line(paths, tmp_path):
    """The real entry point: a missing required flag is argparse's one line, exit 2."""
    result = subprocess.run(
        [sys.executable, "-m", "heartmula_core", "tokens", "--lm", str(paths["tiny"])], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "required" in result.stderr


def test_bfloat16_runs(paths, tmp_path):
    out = tmp_path / "bf16.npy"
    assert main(tokens_args(paths["sharp"], paths["gen"], out, frames=4, extra=["--dtype", "bfloat16", "--seed", "3"])) == 0
    saved = np.load(out)
    assert saved.dtype == np.int64 and saved.shape == (4, 8) and (saved < 8192).all()


def test_int8_runs_and_repeats(paths, tmp_path):
    """--int8 loads the quantised model through the CLI; the same seed gives the same frames."""
    outs = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for out in outs:
        assert main(tokens_args(paths["sharp"], paths["gen"], out, frames=6, extra=["--int8", "--seed", "5"])) == 0
    first, second = (np.load(o) for o in outs)
    assert first.shape == (6, 8) and np.array_equal(first, second)
