"""app/settings.py: `.env` + environment loading, the API-key fallback, and secrets never leaking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings, load_settings

KEY = "sk-test-9f8e7d6c5b4a"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No HEARTSONG_*/OPENAI_API_KEY from the developer's shell, and a private HOME."""
    import os

    for name in list(os.environ):
        if name.startswith("HEARTSONG_") or name in ("OPENAI_API_KEY", "XDG_DATA_HOME"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def write_env(folder: Path, text: str) -> Path:
    path = folder / "custom.env"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_file_in_a_temp_folder(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = write_env(
        tmp_path,
        "\n".join(
            [
                "HEARTSONG_LLM_BACKEND=openai",
                "HEARTSONG_OPENAI_BASE_URL=http://127.0.0.1:1234/v1/",
                "HEARTSONG_OPENAI_MODEL=qwen2.5-7b-instruct",
                f"HEARTSONG_OPENAI_API_KEY={KEY}",
                "HEARTSONG_LLM_TIMEOUT_S=7.5",
                "HEARTSONG_DATA_DIR=~/songs",
                "HEARTSONG_LM_VARIANT=rl",
                "HEARTSONG_DEVICE=cpu",
                "HEARTSONG_PORT=8001",
                "HEARTSONG_MAX_LYRICS_LINES=50",
                "UNRELATED_TOOL_SETTING=1",
            ]
        ),
    )
    s = load_settings(env_file=env)
    assert s.llm_backend == "openai"
    assert s.openai_base_url == "http://127.0.0.1:1234/v1"  # trailing slash trimmed
    assert s.llm_model() == "qwen2.5-7b-instruct"
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == KEY
    assert s.llm_timeout_s == 7.5
    assert s.data_dir == tmp_path / "home" / "songs"
    assert (s.lm_variant, s.device, s.port, s.max_lyrics_lines) == ("rl", "cpu", 8001, 50)


def test_defaults_without_any_env_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load_settings()  # ./.env does not exist in the temp cwd: defaults
    assert s.llm_backend == "ollama"
    assert s.ollama_url == "http://127.0.0.1:11434"
    assert s.openai_base_url == "https://api.openai.com/v1"
    assert s.openai_api_key is None
    assert s.data_dir == tmp_path / "home" / ".local" / "share" / "heartsong"
    assert (s.lm_variant, s.device, s.host, s.port) == ("hny", "auto", "127.0.0.1", 7860)


def test_dot_env_in_cwd_is_read_by_default(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HEARTSONG_OLLAMA_MODEL=llama3.2:3b\n", encoding="utf-8")
    assert load_settings().llm_model("ollama") == "llama3.2:3b"


def test_environment_beats_env_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = write_env(tmp_path, "HEARTSONG_OLLAMA_URL=http://from-file:11434\n")
    clean_env.setenv("HEARTSONG_OLLAMA_URL", "http://from-env:11434")
    assert load_settings(env_file=env).ollama_url == "http://from-env:11434"


def test_api_key_falls_back_to_openai_api_key(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = write_env(tmp_path, f"OPENAI_API_KEY={KEY}\n")
    s = load_settings(env_file=env)
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == KEY
    clean_env.setenv("HEARTSONG_OPENAI_API_KEY", "sk-preferred")
    s = load_settings(env_file=env)
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == "sk-preferred"


def test_bad_value_is_a_validation_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = write_env(tmp_path, "HEARTSONG_LLM_BACKEND=gpt\n")
    with pytest.raises(ValidationError, match="llm_backend"):
        load_settings(env_file=env)


def test_key_never_in_repr_str_or_public_dict(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load_settings(env_file=write_env(tmp_path, f"HEARTSONG_OPENAI_API_KEY={KEY}\n"))
    public = s.public_dict()
    assert public["openai_api_key_set"] is True
    assert "openai_api_key" not in public
    for text in (repr(s), str(s), json.dumps(public)):
        assert KEY not in text
    assert load_settings().public_dict()["openai_api_key_set"] is False


def test_every_setting_is_public_except_the_secret() -> None:
    public = Settings(_env_file=None).public_dict()  # type: ignore[call-arg]
    expected = set(Settings.model_fields) - {"openai_api_key"} | {"openai_api_key_set"}
    assert set(public) == expected
    json.dumps(public)  # JSON-able as is


def test_the_readme_table_of_settings_is_the_one_settings_py_makes() -> None:
    from app.settings_doc import settings_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README.md's settings table is stale: paste `python -m app.settings_doc`"


def test_every_setting_says_what_it_is_for() -> None:
    from app.settings import Settings

    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_threads_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HEARTSONG_THREADS", "1")
    assert load_settings().threads == 1
    clean_env.setenv("HEARTSONG_THREADS", "-1")
    with pytest.raises(ValueError):
        load_settings()


def test_a_named_env_file_that_is_missing_is_refused(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="settings file .*typo.env does not exist"):
        load_settings(env_file=tmp_path / "typo.env")  # not the defaults, with whatever key the environment has


def test_the_default_upload_cap_admits_the_longest_recording_the_length_caps_allow() -> None:
    """A musician's 10-minute WAV (48 kHz, 24-bit, stereo) must meet the length cap, not a smaller size cap."""
    settings = load_settings(Path("/dev/null"))
    longest = max(settings.max_recording_audio_s, settings.max_style_audio_s)
    assert settings.max_upload_bytes >= longest * 48_000 * 3 * 2 + 1_000  # samples x bytes x channels + header
