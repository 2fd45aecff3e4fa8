"""The catalogue's `encoder` entry: found in a folder or the official ckpt/ layout, checked, paired with `codec`."""

from __future__ import annotations

from pathlib import Path

import pytest

from heartmula_core.hub.catalogue import CATALOGUE, Kind, find_problem, with_companions
from heartmula_core.errors import ModelNotAvailable
from heartmula_core.hub import Catalogue, Source


def offline(tmp_path: Path, **kwargs) -> Catalogue:
    return Catalogue(cache_dir=tmp_path / "hf" / "hub", offline=True, **kwargs)


def test_entry_pairs_with_the_codec() -> None:
    entry = CATALOGUE["encoder"]
    assert entry.repo_id == "HeartMuLa/HeartCodec-oss-encoder" and entry.kind is Kind.ENCODER
    assert with_companions(["encoder"]) == ["encoder", "codec"]
    assert not entry.default  # a song does not need it: only starting from a recording does


def test_complete_and_incomplete_folders(tmp_path: Path, encoder_ref: Path) -> None:
    entry = CATALOGUE["encoder"]
    assert find_problem(entry, encoder_ref / "HeartCodec-encoder-tiny") is None
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "encoder_config.json").write_text("{}")
    assert find_problem(entry, partial) == "encoder.safetensors missing"


def test_found_in_the_ckpt_layout_and_explicit_folder(tmp_path: Path, encoder_ref: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "HeartCodec-oss-encoder").symlink_to(encoder_ref / "HeartCodec-encoder-tiny", target_is_directory=True)
    found = offline(tmp_path, ckpt_dir=ckpt).resolve("encoder")
    assert (found.path, found.source) == (ckpt / "HeartCodec-oss-encoder", Source.CKPT)
    explicit = offline(tmp_path, folders={"encoder": encoder_ref / "HeartCodec-encoder-tiny"}).resolve("encoder")
    assert explicit.source is Source.FOLDER


def test_missing_offline_says_which_download(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match="download encoder"):
        offline(tmp_path).resolve("encoder")
