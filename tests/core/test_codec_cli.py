"""`python -m heartmula_core decode`: outputs, and one-line errors (exit 2) that leave no file behind."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from heartmula_core.cli import main
from heartmula_core.codec import load_heartcodec
from heartmula_core.codec.decoding import decode as decode_codes
from tests.core.codec_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)

FRAMES = 40


@pytest.fixture(scope="module")
def codec_dir(heartmula_ref):
    return heartmula_ref / "tiny" / "HeartCodec-sharp"


@pytest.fixture()
def tokens(tmp_path):
    codes = torch.randint(0, 8192, (FRAMES, 8), generator=torch.Generator().manual_seed(0)).numpy()
    path = tmp_path / "tokens.npy"
    np.save(path, codes)
    return path


def decode(codec_dir, tokens, out, *extra: str) -> int:
    return main(["decode", "--codec", str(codec_dir), "--tokens", str(tokens), "--out", str(out),
                 "--seed", "3", "--steps", "1", *extra])


def test_npy_output_and_latents_match_the_library(codec_dir, tokens, tmp_path) -> None:
    out, latents = tmp_path / "song.npy", tmp_path / "latents.npy"
    assert decode(codec_dir, tokens, out, "--latents-out", str(latents)) == 0
    audio = np.load(out)
    expected = decode_codes(
        load_heartcodec(codec_dir), torch.from_numpy(np.load(tokens)), generator=torch.Generator().manual_seed(3), steps=1
    )
    assert audio.dtype == np.float32 and audio.shape == (2, 153_600)
    np.testing.assert_array_equal(audio, expected.numpy())
    stored = np.load(latents)
    assert stored.dtype == np.float32 and stored.shape == (1, 744, 256)


def test_audio_file_output(codec_dir, tokens, tmp_path, capsys) -> None:
    out = tmp_path / "song.flac"
    assert decode(codec_dir, tokens, out) == 0
    audio, rate = sf.read(out, always_2d=True)
    assert rate == 48_000 and audio.shape == (153_600, 2)
    assert "seed 3" in capsys.readouterr().out


BAD_TOKENS = {
    "too_large": lambda p: np.save(p, np.full((FRAMES, 8), 8192)),
    "negative": lambda p: np.save(p, np.full((FRAMES, 8), -1)),
    "codebook_major": lambda p: np.save(p, np.zeros((8, FRAMES), dtype=np.int64)),
    "zero_frames": lambda p: np.save(p, np.zeros((0, 8), dtype=np.int64)),
    "float": lambda p: np.save(p, np.zeros((FRAMES, 8), dtype=np.float32)),
    "garbage": lambda p: p.write_bytes(b"not a numpy file at all"),
    "truncated": lambda p: (np.save(p, np.zeros((FRAMES, 8), dtype=np.int64)), p.write_bytes(p.read_bytes()[:200])),
    "missing": lambda p: None,
}


def assert_one_line_error(code: int, capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error:") and "Traceback" not in err
    return err


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_tokens(codec_dir, tmp_path, capsys, case: str) -> None:
    tokens = tmp_path / "tokens.npy"
    BAD_TOKENS[case](tokens)
    before = set(tmp_path.iterdir())
    code = decode(codec_dir, tokens, tmp_path / "song.wav", "--latents-out", str(tmp_path / "lat.npy"))
    assert_one_line_error(code, capsys)
    assert set(tmp_path.iterdir()) == before  # no output, no temp file


@pytest.mark.parametrize("out", ["song.txt", "no_such_folder/song.wav", "song"])
def test_bad_output_path(codec_dir, tokens, tmp_path, capsys, out: str) -> None:
    before = set(tmp_path.iterdir())
    assert_one_line_error(decode(codec_dir, tokens, tmp_path / out), capsys)
    assert set(tmp_path.iterdir()) == before


def test_bad_latents_path(codec_dir, tokens, tmp_path, capsys) -> None:
    before = set(tmp_path.iterdir())
    code = decode(codec_dir, tokens, tmp_path / "song.npy", "--latents-out", str(tmp_path / "nowhere" / "l.npy"))
    assert_one_line_error(code, capsys)
    assert set(tmp_path.iterdir()) == before


def test_missing_codec_folder(tokens, tmp_path, capsys) -> None:
    before = set(tmp_path.iterdir())
    assert "nope" in assert_one_line_error(decode(tmp_path / "nope", tokens, tmp_path / "song.npy"), capsys)
    assert set(tmp_path.iterdir()) == before


def test_the_lm_folder_given_as_codec_is_called_another_model(heartmula_ref, tokens, tmp_path, capsys) -> None:
    lm = heartmula_ref / "tiny" / "HeartMuLa-tiny"
    err = assert_one_line_error(decode(lm, tokens, tmp_path / "song.npy"), capsys)
    assert err == f"error: {lm} does not match the model: none of its 46 weights are this model's: is it another " \
                  "model's folder?"  # not 498 missing and 46 unexpected key names
