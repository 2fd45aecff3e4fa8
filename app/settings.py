"""Every Heartsong setting in one place: environment variables `HEARTSONG_*` and a `.env` file.

Precedence (highest first): values passed to `Settings(...)`, environment variables, the `.env` file, the
defaults below. The `.env` file is read from the current folder unless another path is given
(`load_settings(env_file=...)`, used by the tests and by `--env-file` style options).

    HEARTSONG_LLM_BACKEND=openai
    HEARTSONG_OPENAI_BASE_URL=http://127.0.0.1:1234/v1     # LM Studio, vLLM, llama.cpp server, OpenRouter...
    HEARTSONG_OPENAI_API_KEY=sk-...                         # falls back to OPENAI_API_KEY
    HEARTSONG_DATA_DIR=~/music/heartsong

The data folder defaults to `$XDG_DATA_HOME/heartsong` (normally `~/.local/share/heartsong`): history and
generated songs survive a fresh clone of the code, as Linux apps' data usually does.

Secrets (the API key) are `SecretStr`: their repr is masked, and `public_dict()` leaves them out, so a
settings dump can go into logs or history without leaking a key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ENV_FILE = Path(".env")


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/heartsong`, or `~/.local/share/heartsong` when XDG_DATA_HOME is unset."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "heartsong"


class Settings(BaseSettings):
    """The app's settings. Read them with `load_settings()`; every field is `HEARTSONG_<NAME>` in the env."""

    model_config = SettingsConfigDict(
        env_prefix="HEARTSONG_",
        env_file=DEFAULT_ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",  # a .env shared with other tools may hold unrelated keys
        populate_by_name=True,
        validate_default=True,
    )

    # --- songwriting (LLM) ---
    llm_backend: Literal["ollama", "openai"] = Field("ollama", description="which LLM server writes songs")
    ollama_url: str = Field("http://127.0.0.1:11434", description="the Ollama server")
    ollama_model: str = Field("", description="empty: the first chat model the Ollama server has")
    openai_base_url: str = Field("https://api.openai.com/v1", description="an OpenAI-compatible server: OpenAI, LM "
                                 "Studio, vLLM, llama.cpp, OpenRouter...")
    openai_model: str = Field("gpt-4o-mini", description="empty: the first model the server lists")
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("HEARTSONG_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="the OpenAI-compatible server's key (or OPENAI_API_KEY); never kept with songs",
    )
    # A whole answer, model loading included: a local model on a CPU can take minutes for full lyrics.
    llm_timeout_s: float = Field(300.0, gt=0, description="seconds one LLM answer may take in all")

    # --- where things live ---
    data_dir: Path = Field(default_factory=default_data_dir, description="history, songs, uploads")
    lm_dir: Path | None = Field(None, description="a HeartMuLa LM folder of your own (config.json, safetensors); it serves every variant")
    gen_dir: Path | None = Field(None, description="a folder with tokenizer.json and gen_config.json (HeartMuLaGen)")
    codec_dir: Path | None = Field(None, description="a HeartCodec folder of your own")
    encoder_dir: Path | None = Field(None, description="a HeartCodec encoder folder (recordings to tokens)")
    style_dir: Path | None = Field(None, description="a MuQ-MuLan folder (style from a recording or a text)")
    transcriber_dir: Path | None = Field(None, description="a HeartTranscriptor folder (the Transcribe tab)")
    ckpt_dir: Path | None = Field(None, description="an official `ckpt/` folder holding the models in the HeartMuLa README's layout")

    # --- the music engine ---
    lm_variant: Literal["hny", "rl", "base"] = Field("hny", description="the HeartMuLa LM release a song uses")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: the GPU when there is one")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 on a GPU, float32 on the CPU")
    int8: bool = Field(False, description="int8 LM weights: about half the GPU memory of bfloat16, tokens differ a little")
    compile: bool = Field(False, description="compile the LM's frame step: the first song waits for it, later ones run faster")
    cuda_graphs: bool = Field(False, description="on a GPU, replay the LM's frames from a CUDA graph: one launch a "
                              "frame instead of about 2,000 (not yet measured on a GPU; ignored on the CPU)")
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0: half the cores, at least 1 (on a busy "
                                               "machine fewer threads are faster)")

    # --- a Ray cluster for the music (the optional extra: ./install.sh --ray) ---
    ray_address: str = Field("", description="send the music work to a Ray cluster: `auto` (the one this machine "
                             "belongs to), `HOST:6379`, or `local` (start one here); empty: this computer makes it")
    ray_replicas: int = Field(0, ge=0, description="music workers on the Ray cluster; 0: one per GPU (on a cluster "
                              "without GPUs, one per 4 CPUs, at least 1)")
    ray_reconnect_s: float = Field(60.0, ge=0, le=86400, description="how long a song waits for a lost Ray cluster "
                                   "to come back before it ends with one line (`batch` then stops the album)")

    # --- limits on what a page visitor may send ---
    # MB are 1,000,000 bytes, here, in Gradio's upload route and in the app's own check (`max_upload_bytes`).
    # 200: the length caps below are the ones a musician meets; a 10-minute WAV at 48 kHz, 24-bit, stereo is 173 MB.
    max_upload_mb: float = Field(200.0, gt=0, description="largest upload (style reference, song to transcribe, recording to start from), "
                                 "in MB of 1,000,000 bytes")
    # Lengths are read from a recording's header before it is decoded: a small compressed file can hold hours.
    max_style_audio_s: float = Field(600.0, gt=0, description="longest style reference recording, seconds")
    max_transcribe_audio_s: float = Field(900.0, gt=0, description="longest recording to transcribe, seconds")
    max_recording_audio_s: float = Field(600.0, gt=0, description="longest recording to start a song from "
                                         "(Create's \"Start from a recording\"), seconds")
    max_lyrics_lines: int = Field(300, gt=0, description="most lyrics lines a song may have")
    max_lyrics_chars: int = Field(12_000, gt=0, description="most lyrics characters a song may have")

    # --- the web app ---
    host: str = Field("127.0.0.1", description="where the page listens: this computer only, unless changed")
    allowed_hosts: str = Field("", description="more host names the page answers to, comma-separated (say, a "
                               "reverse proxy's): requests addressed to any other name are refused")
    port: int = Field(7860, ge=1, le=65535, description="the page's port")

    @field_validator(
        "data_dir", "lm_dir", "gen_dir", "codec_dir", "encoder_dir", "style_dir", "transcriber_dir", "ckpt_dir"
    )
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @field_validator("ollama_url", "openai_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @property
    def max_upload_bytes(self) -> int:
        """`max_upload_mb` in bytes (MB = 1,000,000 bytes): the one number both upload checks use."""
        return int(self.max_upload_mb * 1_000_000)

    def llm_model(self, backend: str | None = None) -> str:
        """The model name configured for `backend` (may be empty: the backend then picks one)."""
        return self.ollama_model if (backend or self.llm_backend) == "ollama" else self.openai_model

    def public_dict(self) -> dict[str, Any]:
        """Every setting as JSON-able values, secrets left out (only whether they are set). Safe to log or store."""
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if _is_secret(field.annotation):
                out[f"{name}_set"] = value is not None and bool(value.get_secret_value())
            else:
                out[name] = str(value) if isinstance(value, Path) else value
        return out


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def load_settings(env_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment and `env_file` (default `./.env`; a missing `./.env` is fine, a missing file
    named here is a ValueError: `--env-file my.env` with a typo must not run on the defaults, key and all)."""
    path = DEFAULT_ENV_FILE if env_file is None else Path(env_file)
    if env_file is not None and not path.exists():
        raise ValueError(f"settings file {path} does not exist")
    return Settings(_env_file=path, **overrides)  # type: ignore[call-arg]
