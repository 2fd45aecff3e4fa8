"""The catalogue resolves explicit folders, the official ckpt/ layout and the Hugging Face cache, and explains
every failure in one actionable line. No test touches the network: every Catalogue here is offline."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heartmula_core.hub.catalogue import CATALOGUE, find_problem, get_entry, with_companions
from heartmula_core.errors import InvalidRequest, ModelNotAvailable
from heartmula_core.hub import Catalogue, Source, check_disk_space, download_error

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def tiny(heartmula_ref: Path) -> Path:
    return heartmula_ref / "tiny"


def official_ckpt(root: Path, tiny: Path) -> Path:
    """ckpt/ as the HeartMuLa README lays it out, filled with the tiny checkpoints (symlinked, not copied)."""
    ckpt = root / "ckpt"
    ckpt.mkdir()
    (ckpt / "HeartMuLa-oss-3B").symlink_to(tiny / "HeartMuLa-tiny", target_is_directory=True)
    (ckpt / "HeartCodec-oss").symlink_to(tiny / "HeartCodec-tiny", target_is_directory=True)
    for name in ("tokenizer.json", "gen_config.json"):
        (ckpt / name).symlink_to(tiny / "HeartMuLaGen-tiny" / name)
    return ckpt


def hf_cache_repo(cache: Path, repo_id: str, files: dict[str, Path | bytes]) -> Path:
    """One repository in the real Hugging Face cache structure: blobs/<hash>, snapshots/<rev>/<file> -> blob,
    refs/main holding the revision. Returns the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def sharded_files(tiny: Path) -> dict[str, Path | bytes]:
    """A two-shard layout (index + shards) made from the tiny LM: the index is all the completeness check reads."""
    weights = tiny / "HeartMuLa-tiny" / "model.safetensors"
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                            "b": "model-00002-of-00002.safetensors"}}
    return {
        "config.json": tiny / "HeartMuLa-tiny" / "config.json",
        "model.safetensors.index.json": json.dumps(index).encode(),
        "model-00001-of-00002.safetensors": weights,
        "model-00002-of-00002.safetensors": weights,
    }


def offline(tmp_path: Path, **kwargs) -> Catalogue:
    return Catalogue(cache_dir=tmp_path / "hf" / "hub", offline=True, **kwargs)


def test_table_is_consistent():
    assert {"rl", "hny", "base", "codec", "codec-base", "gen", "transcriptor", "style"} <= CATALOGUE.keys()
    assert [n for n, e in CATALOGUE.items() if e.default] == ["hny", "codec", "gen"]
    assert CATALOGUE["rl"].repo_id == "HeartMuLa/HeartMuLa-RL-oss-3B-20260123"
    assert CATALOGUE["style"].licence == "CC BY-NC 4.0" and CATALOGUE["style"].licence_notice
    for entry in CATALOGUE.values():
        for companion in entry.companions:
            assert companion in CATALOGUE
    assert with_companions(["style", "rl", "style-text"]) == ["style", "style-audio", "style-text", "rl"]
    with pytest.raises(InvalidRequest, match="choose from"):
        get_entry("nope")


def test_official_ckpt_layout(tmp_path, tiny):
    ckpt = official_ckpt(tmp_path, tiny)
    catalogue = offline(tmp_path, ckpt_dir=ckpt)
    models = catalogue.music_models()
    assert models.lm == ckpt / "HeartMuLa-oss-3B"
    assert models.codec == ckpt / "HeartCodec-oss"
    assert models.gen == ckpt
    # The official README downloads the happy-new-year release into HeartMuLa-oss-3B/; the folder cannot say
    # which release it holds, so it serves every variant.
    for variant in ("hny", "rl", "base"):
        found = catalogue.resolve(variant)
        assert (found.path, found.source) == (ckpt / "HeartMuLa-oss-3B", Source.CKPT)


def test_explicit_folder_wins(tmp_path, tiny):
    ckpt = official_ckpt(tmp_path, tiny)
    hf_cache_repo(tmp_path / "hf" / "hub", CATALOGUE["rl"].repo_id,
                  {"config.json": tiny / "HeartMuLa-tiny" / "config.json",
                   "model.safetensors": tiny / "HeartMuLa-tiny" / "model.safetensors"})
    sharp = tiny / "HeartMuLa-sharp"
    found = offline(tmp_path, ckpt_dir=ckpt, folders={"lm": sharp}).resolve("rl")
    assert (found.path, found.source) == (sharp, Source.FOLDER)
    # ckpt/ comes before the cache
    assert offline(tmp_path, ckpt_dir=ckpt).resolve("rl").source is Source.CKPT


def test_hf_cache_layout(tmp_path, tiny):
    cache = tmp_path / "hf" / "hub"
    snapshot = hf_cache_repo(cache, CATALOGUE["codec"].repo_id,
                             {"config.json": tiny / "HeartCodec-tiny" / "config.json",
                              "model.safetensors": tiny / "HeartCodec-tiny" / "model.safetensors"})
    hf_cache_repo(cache, CATALOGUE["gen"].repo_id,
                  {n: tiny / "HeartMuLaGen-tiny" / n for n in ("tokenizer.json", "gen_config.json")})
    hf_cache_repo(cache, CATALOGUE["base"].repo_id, sharded_files(tiny))
    catalogue = offline(tmp_path)
    found = catalogue.resolve("codec")
    assert (found.path, found.source) == (snapshot, Source.CACHE)
    models = catalogue.music_models("base")
    assert (models.lm / "model-00002-of-00002.safetensors").is_file()
    status = catalogue.status("codec")
    assert status.state == "present"
    assert status.size_bytes == sum(p.stat().st_size for p in (tiny / "HeartCodec-tiny").iterdir())
    assert catalogue.status("hny").state == "missing"


def test_incomplete_explicit_folder(tmp_path, tiny):
    folder = tmp_path / "lm"
    folder.mkdir()
    for name, content in sharded_files(tiny).items():
        if name != "model-00002-of-00002.safetensors":
            (folder / name).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    with pytest.raises(ModelNotAvailable, match="1 of 2 shards missing") as err:
        offline(tmp_path, folders={"lm": folder}).resolve("rl")
    message = str(err.value)
    assert "\n" not in message and str(folder) in message and "hf download" in message



def test_a_named_folder_that_does_not_exist_is_called_missing_not_incomplete(tmp_path):
    typo = tmp_path / "HeartMuLa-oss-3B-tpyo"
    with pytest.raises(ModelNotAvailable) as err:
        offline(tmp_path, folders={"lm": typo}).resolve("hny")
    assert str(err.value) == f"{typo} (the folder you named for hny) does not exist"  # no `hf download` into a typo


def test_incomplete_cache_says_resume(tmp_path, tiny):
    files = sharded_files(tiny)
    del files["model-00001-of-00002.safetensors"]
    hf_cache_repo(tmp_path / "hf" / "hub", CATALOGUE["rl"].repo_id, files)
    catalogue = offline(tmp_path)
    with pytest.raises(ModelNotAvailable, match=r"partly downloaded.*heartmula_core download rl"):
        catalogue.resolve("rl")
    status = catalogue.status("rl")
    assert status.state == "partial" and "partly downloaded" in status.problem


def test_missing_config_is_incomplete(tmp_path, tiny):
    folder = tmp_path / "codec"
    folder.mkdir()
    shutil.copy(tiny / "HeartCodec-tiny" / "model.safetensors", folder)
    assert find_problem(CATALOGUE["codec"], folder) == "config.json missing"
    assert find_problem(CATALOGUE["codec"], tiny / "HeartCodec-tiny") is None


def test_style_accepts_a_bin_only_checkpoint(tmp_path, muq_ref):
    folder = tmp_path / "MuQ-MuLan-large"
    folder.mkdir()
    for name in ("config.json", "pytorch_model.bin"):
        shutil.copy(muq_ref / "tiny" / "MuQ-MuLan-tiny" / name, folder)
    assert find_problem(CATALOGUE["style"], folder) is None
    assert find_problem(CATALOGUE["style-text"], muq_ref / "tiny" / "xlm-roberta-tiny") is None


def test_offline_not_cached(tmp_path):
    catalogue = offline(tmp_path)
    with pytest.raises(ModelNotAvailable) as err:
        catalogue.resolve("rl")
    message = str(err.value)
    assert "python -m heartmula_core download rl" in message and "HF_HUB_OFFLINE=0" in message
    with pytest.raises(ModelNotAvailable, match="offline"):
        catalogue.download("codec")


def test_not_enough_disk_space(tmp_path):
    with pytest.raises(ModelNotAvailable, match=r"needs 10\.0 PB|needs 10000\.0 TB") as err:
        check_disk_space(CATALOGUE["rl"], 10 * 1000**5, tmp_path / "not-made-yet")
    assert "free" in str(err.value)
    check_disk_space(CATALOGUE["rl"], 1, tmp_path)


def test_download_errors_say_what_to_do(tmp_path):
    import errno

    entry = CATALOGUE["rl"]
    full = download_error(entry, OSError(errno.ENOSPC, "No space left on device"), 7 * 1000**3, tmp_path)
    assert full.startswith("not enough disk space for rl: it needs 7.0 GB")
    network = download_error(entry, OSError("Connection reset by peer\nmore detail"), None, tmp_path)
    assert "Connection reset by peer" in network and "download rl" in network and "\n" not in network


def run_cli(*args: str, hf_home: Path, cwd: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", **extra_env}
    env.pop("HF_HUB_CACHE", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return subprocess.run([sys.executable, "-m", "heartmula_core", *args], capture_output=True, text=True,
                          env=env, cwd=cwd)


def test_cli_models_and_download_follow_hf_home(tmp_path, tiny):
    hf_home = tmp_path / "hf"
    hf_cache_repo(hf_home / "hub", CATALOGUE["gen"].repo_id,
                  {n: tiny / "HeartMuLaGen-tiny" / n for n in ("tokenizer.json", "gen_config.json")})
    out = run_cli("models", hf_home=hf_home, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "present" in rows["gen*"] and str(hf_home) in rows["gen*"] and "(cache)" in rows["gen*"]
    assert "missing" in rows["hny*"] and "missing" in rows["rl"]

    out = run_cli("download", "gen", hf_home=hf_home, cwd=tmp_path)
    assert out.returncode == 0 and "gen:" in out.stdout and "(cache)" in out.stdout

    out = run_cli("download", "rl", hf_home=hf_home, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert "python -m heartmula_core download rl" in out.stderr

    out = run_cli("download", "nope", hf_home=hf_home, cwd=tmp_path)
    assert out.returncode == 2 and "unknown model 'nope'" in out.stderr


def test_cli_models_finds_ckpt_in_working_dir(tmp_path, tiny):
    official_ckpt(tmp_path, tiny)
    out = run_cli("models", hf_home=tmp_path / "hf", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    for name in ("hny*", "codec*", "gen*", "rl", "base", "codec-base"):
        assert "present" in rows[name] and "(ckpt)" in rows[name]


def test_unreachable_hub_is_one_line(tmp_path):
    """Online mode, but the hub cannot be reached (here: a closed port on loopback, so nothing leaves the machine).
    The HTTP client's connection error is not an OSError; it must still become one actionable line."""
    out = run_cli("download", "gen", hf_home=tmp_path / "hf", cwd=tmp_path,
                  HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0
    assert "could not download gen" in out.stderr and "download gen" in out.stderr
