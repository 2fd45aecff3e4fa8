"""The LM options a pipeline passes on: int8 weights (in the pipeline and through `generate --int8`)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile as sf

from heartmula_core.hub import MusicModels
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import MusicRequest

from .test_pipeline_cli import cli_env, model_args  # noqa: F401 (fixture)


def test_int8_pipeline_makes_a_song_with_a_quantised_lm(heartmula_ref):
    tiny = heartmula_ref / "tiny"
    models = MusicModels(lm=tiny / "HeartMuLa-tiny", gen=tiny / "HeartMuLaGen-tiny", codec=tiny / "HeartCodec-tiny")
    pipeline = MusicPipeline(models, int8=True, decode_steps=2)
    result = pipeline.generate(MusicRequest(tags="pop", lyrics="[verse]\nla la", seconds=1.0, seed=3))
    assert pipeline.lm.is_quantized
    assert result.audio[0].shape[0] == 2 and np.isfinite(result.audio[0]).all()
    frames = len(result.tokens[0])  # the model may end the song before the second asked for
    assert 0 < frames <= 13 and result.audio[0].shape[1] == int(frames / 12.5 * 48_000)


def test_generate_int8_writes_the_song(tmp_path, model_args):
    out = tmp_path / "take.wav"
    done = subprocess.run(
        [sys.executable, "-m", "heartmula_core", "generate", "--tags", "rock", "--lyrics", "[verse]\\nyeah",
         "--seconds", "0.5", "--int8", *model_args, "--out", str(out)],
        capture_output=True, text=True, env=cli_env(tmp_path), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert sf.info(str(out)).channels == 2
