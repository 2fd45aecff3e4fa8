"""What makes two studios' music workers the same workers: the settings they compute with and the code they run.

Ray Serve replaces every replica of an app each time a Python program deploys it, even unchanged (it cannot tell
that its code did not change), so a second studio starting on a shared cluster would cost every song then being
made a retry. A studio therefore deploys only when the running workers' identity differs from its own.
No Ray import.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

from app.settings import Settings

from .placement import ReplicaPlan

# Settings that only the studio uses (its LLM, its page, its uploads, its cluster link, its default variant: a
# song names its own) or that only place a cache (the style embeddings under `data_dir`). Every other setting,
# including any added later, counts: a difference deploys the workers again, which is safe, only slower.
STUDIO_ONLY = frozenset({
    "llm_backend", "ollama_url", "ollama_model", "openai_base_url", "openai_model", "openai_api_key",
    "llm_timeout_s", "data_dir", "lm_variant", "ray_address", "ray_reconnect_s", "max_upload_mb",
    "max_transcribe_audio_s", "max_recording_audio_s", "host", "allowed_hosts", "port",
})
CODE_FOLDERS = ("app", "heartmula_core")  # what a worker's process imports from the checkout


def worker_identity(settings: Settings, plan: ReplicaPlan, checkout: Path) -> str:
    """A digest of what the workers compute with: their settings (without `STUDIO_ONLY`), their plan, and the
    Heartsong code in `checkout` they run."""
    fields = settings.model_dump(mode="json", exclude=set(STUDIO_ONLY))
    described = json.dumps({"settings": fields, "plan": dataclasses.asdict(plan), "code": code_digest(checkout)},
                           sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()


@functools.cache
def code_digest(checkout: Path) -> str:
    """A digest of every Python file the workers import from `checkout` (names and contents)."""
    digest = hashlib.sha256()
    for folder in CODE_FOLDERS:
        for path in sorted((checkout / folder).rglob("*.py")):
            digest.update(str(path.relative_to(checkout)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
