"""The Models & Settings tab: which models are here, downloading and unloading them, and the LLM servers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.service import Studio

from .common import guarded, progress_html

COLUMNS = ["Model", "What", "State", "Size", "Where"]
POLL_S = 0.5


@dataclass
class ModelsTab:
    """The Models & Settings tab's components. `llm_inputs` feed every LLM call on the Create tab."""

    table: gr.Dataframe
    refresh: gr.Button
    name: gr.Dropdown
    download: gr.Button
    unload: gr.Button
    status: gr.HTML
    loaded: gr.HTML
    ollama_url: gr.Textbox
    openai_url: gr.Textbox
    openai_key: gr.Textbox
    check: gr.Button
    llm_status: gr.HTML

    @property
    def llm_inputs(self) -> list[Any]:
        return [self.ollama_url, self.openai_url, self.openai_key]


def build(studio: Studio) -> ModelsTab:
    """Lay out the Models & Settings tab (inside an open `gr.Tab`)."""
    from heartmula_core.hub.catalogue import CATALOGUE

    settings = studio.settings
    gr.Markdown("### Models")
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True, elem_id="models-table")
    with gr.Row():
        refresh = gr.Button("Refresh", size="sm")
        name = gr.Dropdown(list(CATALOGUE), value="rl", label="Model to download", scale=2)
        download = gr.Button("Download", scale=1, elem_id="models-download")
        unload = gr.Button("Unload (free memory)", scale=1, elem_id="models-unload")
    status = gr.HTML(elem_id="models-status")
    loaded = gr.HTML(elem_id="models-loaded")
    gr.Markdown("### LLM servers")
    with gr.Row():
        ollama_url = gr.Textbox(value=settings.ollama_url, label="Ollama URL", elem_id="settings-ollama-url")
        openai_url = gr.Textbox(value=settings.openai_base_url, label="OpenAI-compatible URL",
                                elem_id="settings-openai-url")
    key_hint = "set in the environment (leave empty to use it)" if settings.openai_api_key else "sk-…"
    openai_key = gr.Textbox(value="", type="password", label="OpenAI API key (never saved with songs)",
                            placeholder=key_hint, elem_id="settings-openai-key")
    check = gr.Button("Check the LLM servers", size="sm")
    llm_status = gr.HTML()
    return ModelsTab(table, refresh, name, download, unload, status, loaded, ollama_url, openai_url, openai_key, check,
                     llm_status)


def model_rows(studio: Studio) -> list[list[Any]]:
    from heartmula_core.hub.catalogue import human_size

    return [
        [s.entry.name, s.entry.description, s.state, human_size(s.size_bytes) if s.size_bytes else "",
         str(s.path or "")]
        for s in studio.model_status()
    ]


def in_memory(studio: Studio) -> str:
    """The line that says which models hold memory now."""
    names = studio.loaded_models()
    return progress_html(None, "In memory: " + ", ".join(names) if names else "No models in memory.")


def wire(tab: ModelsTab, studio: Studio) -> Any:
    """Attach the tab's events; returns the refresh handler for [table, loaded] (the app runs it on opening)."""

    @guarded
    def refresh() -> dict[Any, Any]:
        return {tab.table: model_rows(studio), tab.loaded: in_memory(studio)}

    tab.refresh.click(refresh, None, [tab.table, tab.loaded], api_visibility="private")

    @guarded
    def download(name: str) -> Iterator[dict[Any, Any]]:
        # huggingface_hub reports progress only to a terminal; the page watches the bytes arrive in the cache,
        # as a share of the model's size on the Hub.
        job = studio.start_download(name)
        while not job.wait(POLL_S):
            yield {tab.status: progress_html(None, job.progress().describe())}
        try:
            job.result()
        except Exception:
            yield {tab.status: progress_html(None, f"{name} was not downloaded.")}
            raise  # the reason becomes the page's one-line error
        yield {tab.status: progress_html(None, f"{name} is ready."), tab.table: model_rows(studio)}

    tab.download.click(download, tab.name, [tab.status, tab.table], api_visibility="private")

    @guarded
    def unload() -> dict[Any, Any]:
        return {tab.status: progress_html(None, studio.unload()), tab.loaded: in_memory(studio)}

    tab.unload.click(unload, None, [tab.status, tab.loaded], api_visibility="private")

    @guarded
    def check(ollama_url: str, openai_url: str, key: str) -> str:
        from app.studio.engines import make_llm_backend

        lines = []
        for backend, url, secret in (("ollama", ollama_url, ""), ("openai", openai_url, key)):
            health = make_llm_backend(studio.settings, studio.llm_choice(backend, url, "", secret)).health()
            lines.append(("✓ " if health.ok else "✗ ") + health.message)
        return progress_html(None, " · ".join(lines))

    tab.check.click(check, tab.llm_inputs, tab.llm_status, api_visibility="private")
    return refresh
