"""The music workers' identity (app/cluster/identity.py): what a second studio compares before it deploys."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import SecretStr

from app.cluster.identity import code_digest, worker_identity
from app.cluster.placement import ReplicaPlan
from tests.app.conftest import tiny_settings

PLAN = ReplicaPlan(replicas=2, num_gpus=0.0, num_cpus=1.0, threads=1)
ROOT = Path(__file__).resolve().parents[2]


def test_studios_that_differ_only_in_their_own_settings_share_the_workers(tmp_path: Path) -> None:
    first = tiny_settings(tmp_path / "one")
    second = tiny_settings(tmp_path / "two").model_copy(update={
        "ollama_model": "another", "openai_api_key": SecretStr("sk-other"), "port": 7999, "ray_address": "auto",
        "lm_variant": "7B", "max_upload_mb": 10.0})
    assert worker_identity(first, PLAN, ROOT) == worker_identity(second, PLAN, ROOT)


def test_what_the_workers_compute_with_makes_them_other_workers(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    base = worker_identity(settings, PLAN, ROOT)
    for change in ({"dtype": "bfloat16"}, {"int8": True}, {"compile": True}, {"codec_dir": tmp_path / "codec"},
                   {"max_lyrics_chars": 100}):
        assert worker_identity(settings.model_copy(update=change), PLAN, ROOT) != base, change
    assert worker_identity(settings, ReplicaPlan(3, 0.0, 0.66, 1), ROOT) != base


def test_other_code_makes_other_workers(tmp_path: Path) -> None:
    for folder in ("app", "heartmula_core"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_digest(tmp_path) == code_digest(ROOT)
    changed = tmp_path / "heartmula_core" / "lm" / "sampling_note.py"
    changed.write_text("# a file the workers would import\n")
    code_digest.cache_clear()
    assert code_digest(tmp_path) != code_digest(ROOT)
