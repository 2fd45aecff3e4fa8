"""What the page says about the models: what a song needs and its size on the Hub (asked once), one folder serving
every LM variant, and a missing model's message that says what is true (here, with a local fake for the Hub's
file sizes: nothing touches the network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import load_settings
from app.studio.engines import PipelineMusicMaker
from app.studio.jobs import MusicSettings, Sheet
from app.studio.models import (
    HubSizes,
    ModelsMissing,
    download_size,
    missing_message,
    model_rows,
    shared_lm_folder,
    song_model_names,
)
from app.studio.service import Studio
from heartmula_core.hub.catalogue import CATALOGUE
from heartmula_core.hub import Catalogue
from tests.conftest import HEARTMULA_REF

TINY = HEARTMULA_REF / "tiny"
GB = 1_000_000_000


class HubFileSizes:
    """The Hub's file list of each repository, as `Catalogue(remote_sizes=...)` asks for it; counts the asks."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, repo_id: str) -> dict[str, int]:
        self.asked.append(repo_id)
        if repo_id == CATALOGUE["gen"].repo_id:
            return {"tokenizer.json": 9_000_000, "gen_config.json": 100, "README.md": 5_000}
        return {"config.json": 1_000, "model.safetensors": 7 * GB, "notes.bin": 1}


def online(tmp_path: Path, sizes: HubFileSizes, **folders: Path) -> Catalogue:
    return Catalogue(cache_dir=tmp_path / "hub", offline=False, folders=folders, remote_sizes=sizes)


def test_missing_models_show_their_size_on_the_hub_asked_once(tmp_path: Path) -> None:
    sizes, hub_sizes = HubFileSizes(), HubSizes()
    catalogue = online(tmp_path, sizes)
    rows = model_rows(catalogue, hub_sizes, song_model_names("hny"))
    assert [(r.name, r.state, r.size_bytes) for r in rows] == [
        ("hny", "missing", 7 * GB + 1_000), ("gen", "missing", 9_000_100), ("codec", "missing", 7 * GB + 1_000)]
    assert rows[0].size == "7.0 GB" and download_size(rows) == "14.0 GB"
    model_rows(catalogue, hub_sizes, song_model_names("hny"))
    assert len(sizes.asked) == 3  # remembered for the session


def test_present_models_show_their_size_on_disk_and_one_folder_serving_every_variant(tmp_path: Path) -> None:
    catalogue = online(tmp_path, HubFileSizes(), lm=TINY / "HeartMuLa-tiny", gen=TINY / "HeartMuLaGen-tiny",
                       codec=TINY / "HeartCodec-tiny")
    assert shared_lm_folder(catalogue) == TINY / "HeartMuLa-tiny"
    rows = {r.name: r for r in model_rows(catalogue, HubSizes())}
    assert rows["hny"].state == rows["rl"].state == "present" and rows["hny"].size_bytes > 1_000_000
    assert rows["rl"].note == rows["base"].note == "one folder serves hny, rl, base"
    assert rows["codec"].note == "" and download_size([rows["hny"], rows["gen"]]) is None


def test_without_an_lm_folder_of_its_own_the_variants_are_separate(tmp_path: Path) -> None:
    assert shared_lm_folder(online(tmp_path, HubFileSizes())) is None


def test_unknown_sizes_stay_unknown(tmp_path: Path) -> None:
    def unreachable(repo_id: str) -> dict[str, int]:
        raise OSError("no route to host")

    rows = model_rows(online(tmp_path, HubFileSizes()), HubSizes(), ["hny"])
    assert rows[0].size_bytes == 7 * GB + 1_000
    rows = model_rows(Catalogue(cache_dir=tmp_path / "hub", offline=False, remote_sizes=unreachable), HubSizes(),
                      ["hny"])
    assert rows[0].size_bytes is None and rows[0].size == "unknown" and download_size(rows) is None


def test_the_missing_message_says_what_is_true(tmp_path: Path) -> None:
    rows = model_rows(online(tmp_path, HubFileSizes()), HubSizes(), song_model_names("hny"))
    message = missing_message(rows, offline=False)
    assert message.startswith("This song needs hny, gen, codec (14.0 GB), which this computer does not have yet")
    assert "“Get the models”" in message and "python -m heartmula_core download hny gen codec" in message
    assert "HF_HUB_OFFLINE=0" not in message and "downloads are off" not in message
    offline = missing_message(rows, offline=True)
    assert "Hugging Face is set offline here (HF_HUB_OFFLINE=1)" in offline and "Get the models" not in offline


class OfflineMaker(PipelineMusicMaker):
    """The real music maker over an empty, offline Hugging Face cache (a computer that has no models yet)."""

    def __init__(self, settings, cache: Path) -> None:
        super().__init__(settings)
        self.cache = cache

    def catalogue(self) -> Catalogue:
        return Catalogue(cache_dir=self.cache, offline=True)


def test_compose_without_the_models_says_which_and_how_to_get_them(tmp_path: Path) -> None:
    settings = load_settings(Path("/dev/null"), data_dir=tmp_path / "data")
    studio = Studio(settings, music=OfflineMaker(settings, tmp_path / "hub"))
    with pytest.raises(ModelsMissing, match=r"^This song needs hny, gen, codec, which this computer does not have"):
        list(studio.compose(Sheet(lyrics="[verse]\nla", tags="pop", seconds=2), frozenset(), MusicSettings(), None))
    assert [r.state for r in studio.song_models()] == ["missing"] * 3
    assert len(studio.history) == 0
