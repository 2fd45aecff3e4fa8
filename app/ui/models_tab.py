"""The Models & Settings tab: which models are here, downloading and unloading them, and the LLM servers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.service import Studio

from .common import as_message, guarded, progress_html
from .first_run import llm_line

COLUMNS = ["Model", "What", "State", "Size", "Where"]


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
    settings = studio.settings
    gr.Markdown("### Models")
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True, elem_id="models-table")
    with gr.Row():
        refresh = gr.Button("Refresh", size="sm")
        name = gr.Dropdown(studio.model_names(), value=settings.lm_variant, label="Model to download", scale=2)
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
    return [
        [r.name, f"{r.what} ({r.note})" if r.note else r.what, r.state, r.size, str(r.where or "")]
        for r in studio.model_rows()
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
        try:
            for _, progress in studio.download_models([name]):
                yield {tab.status: progress_html(None, progress.describe())}
        except Exception as exc:  # said on the page and logged; the table stays as it is
            yield {tab.status: progress_html(None, f"{name} was not downloaded: {as_message(exc).message}"),
                   tab.table: model_rows(studio)}
            return
        yield {tab.status: progress_html(None, f"{name} is ready."), tab.table: model_rows(studio)}

    tab.download.click(download, tab.name, [tab.status, tab.table], api_visibility="private")

    @guarded
    def unload() -> dict[Any, Any]:
        return {tab.status: progress_html(None, studio.unload()), tab.loaded: in_memory(studio)}

    tab.unload.click(unload, None, [tab.status, tab.loaded], api_visibility="private")

    @guarded
    def check(ollama_url: str, openai_url: str, key: str) -> str:
        return progress_html(None, llm_line(studio, ollama_url, openai_url, key))

    tab.check.click(check, tab.llm_inputs, tab.llm_status, api_visibility="private")
    return refresh
