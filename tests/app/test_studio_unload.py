"""Unloading frees the music models: nothing in the studio keeps them alive afterwards."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from app.settings import load_settings
from app.studio.jobs import Finished, MusicSettings, Sheet
from app.studio.service import Studio
from tests.conftest import HEARTMULA_REF

TINY = HEARTMULA_REF / "tiny"


def test_unload_frees_the_loaded_pipelines(tmp_path: Path) -> None:
    settings = load_settings(
        Path("/dev/null"), data_dir=tmp_path / "data", lm_dir=TINY / "HeartMuLa-tiny",
        gen_dir=TINY / "HeartMuLaGen-tiny", codec_dir=TINY / "HeartCodec-tiny", device="cpu", dtype="float32",
    )
    studio = Studio(settings)
    assert studio.loaded_models() == [] and studio.unload() == "No models were loaded."
    sheet = Sheet(lyrics="[verse]\nla la", tags="pop", seconds=1.0)
    events = list(studio.compose(sheet, frozenset(), MusicSettings(variants=1, seed=2), None))
    assert isinstance(events[-1], Finished)
    assert studio.loaded_models() == ["HeartMuLa hny (LM and codec)"]  # the default variant
    pipeline = studio.music.pipeline("hny")
    models = [weakref.ref(pipeline.lm), weakref.ref(pipeline.codec)]
    del pipeline
    assert all(ref() is not None for ref in models)  # loaded, and held by the studio

    assert studio.unload() == "Models unloaded; they load again when needed."
    gc.collect()
    assert [ref() for ref in models] == [None, None]
    assert studio.loaded_models() == [] and studio.music.loaded == []


def test_cuda_graphs_reach_a_gpu_pipeline_only(tmp_path: Path) -> None:
    """HEARTSONG_CUDA_GRAPHS is a GPU option: on the CPU it is ignored (no song refused), the other settings kept."""
    settings = load_settings(
        Path("/dev/null"), data_dir=tmp_path / "data", lm_dir=TINY / "HeartMuLa-tiny",
        gen_dir=TINY / "HeartMuLaGen-tiny", codec_dir=TINY / "HeartCodec-tiny", device="cpu", dtype="float32",
        cuda_graphs=True, compile=True,
    )
    pipeline = Studio(settings).music.pipeline("hny")
    assert pipeline.cuda_graph is False and pipeline.compiled is True
