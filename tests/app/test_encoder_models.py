"""Models & Settings lists the HeartCodec encoder like every model: found in its configured folder, or missing."""

from __future__ import annotations

from pathlib import Path

from app.settings import load_settings
from app.studio.service import Studio
from tests.conftest import FIXTURES


def status_of(studio: Studio, name: str):
    return next(s for s in studio.model_rows() if s.name == name)


def test_encoder_folder_setting_is_found(tmp_path: Path) -> None:
    folder = FIXTURES / "heartcodec_encoder" / "HeartCodec-encoder-tiny"
    studio = Studio(load_settings(Path("/dev/null"), data_dir=tmp_path / "data", encoder_dir=folder))
    status = status_of(studio, "encoder")
    assert status.state == "present" and status.where == folder and status.size_bytes > 0


def test_encoder_folder_missing_its_weights_is_partial(tmp_path: Path) -> None:
    folder = tmp_path / "HeartCodec-oss-encoder"
    folder.mkdir()
    (folder / "encoder_config.json").write_text("{}")
    studio = Studio(load_settings(Path("/dev/null"), data_dir=tmp_path / "data", encoder_dir=folder))
    status = status_of(studio, "encoder")
    assert status.state == "partial" and status.where == folder  # the page shows the row as partial, where it is
