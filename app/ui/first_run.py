"""The top of the Create tab: before the first click, whether a song can be made here (the models it needs,
their size, one button that gets the missing ones with progress) and whether the LLM servers answer."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.models import ModelRow, download_size
from app.studio.service import Studio

from .common import as_message, guarded, progress_html

@dataclass
class FirstRun:
    """The readiness line, the button that gets the missing models, and its progress line."""

    ready: gr.HTML
    get_models: gr.Button
    status: gr.HTML


def build() -> FirstRun:
    """Lay out the readiness block (inside the Create tab, above the song)."""
    with gr.Row(equal_height=False):
        ready = gr.HTML(elem_id="create-ready", elem_classes="hs-ready")
        get_models = gr.Button("Get the models", visible=False, variant="primary", scale=0, min_width=220,
                               size="md", elem_id="create-get-models")
    status = gr.HTML(elem_id="create-get-status")
    return FirstRun(ready, get_models, status)


def models_line(rows: list[ModelRow]) -> str:
    """"Models: a song needs hny, gen (here), codec: 22.4 GB to download" as HTML."""
    names = ", ".join(html.escape(r.name) for r in rows)
    if all(r.state == "present" for r in rows):
        return f"<b>Models</b>: {names} are here, ready to make songs."
    parts = [html.escape(r.name) if r.state == "present" else
             f'<span class="hs-missing">{html.escape(r.name)} ({r.state})</span>' for r in rows]
    size = download_size(rows)
    how_big = f"{size} to download" if size else "the download's size is unknown while Hugging Face cannot be asked"
    return f"<b>Models</b>: a song needs {', '.join(parts)}: {how_big}."


def missing(rows: list[ModelRow]) -> list[str]:
    return [r.name for r in rows if r.state != "present"]


def button_label(rows: list[ModelRow]) -> str:
    size = download_size(rows)
    return f"Get the models ({size})" if size else "Get the models"


def llm_line(studio: Studio, ollama_url: str, openai_url: str, key: str) -> str:
    """One line: whether Ollama and the OpenAI-compatible server answer, with the hint when one does not."""
    return " · ".join(("✓ " if h.ok else "✗ ") + h.message for h in studio.llm_health(ollama_url, openai_url, key))


def wire(tab: FirstRun, studio: Studio, variant: gr.Radio, llm_inputs: list[Any], demo: gr.Blocks) -> None:
    """Fill the block when the page opens and when the variant changes; the button downloads what is missing."""

    def models_updates(chosen: str | None) -> tuple[str, Any]:
        rows = studio.song_models(chosen or None)
        need = missing(rows)
        return models_line(rows), gr.update(visible=bool(need), value=button_label(rows))

    @guarded
    def check(chosen: str | None, ollama_url: str, openai_url: str, key: str) -> dict[Any, Any]:
        line, button = models_updates(chosen)
        llm = "<b>Songwriter</b>: " + html.escape(llm_line(studio, ollama_url, openai_url, key))
        return {tab.ready: f"<div>{line}</div><div>{llm}</div>", tab.get_models: button}

    inputs = [variant, *llm_inputs]
    demo.load(check, inputs, [tab.ready, tab.get_models], api_visibility="private")
    variant.change(check, inputs, [tab.ready, tab.get_models], api_visibility="private")

    @guarded
    def get(chosen: str | None, ollama_url: str, openai_url: str, key: str) -> Iterator[dict[Any, Any]]:
        names = missing(studio.song_models(chosen or None))
        try:
            for index, progress in studio.download_models(names):
                yield {tab.status: progress_html(None, f"{index + 1} of {len(names)}: {progress.describe()}")}
        except Exception as exc:  # one line on the page (and one in the server's log); the block stays
            yield {tab.status: progress_html(None, f"Not downloaded: {as_message(exc).message}"),
                   **check(chosen, ollama_url, openai_url, key)}
            return
        yield {tab.status: progress_html(None, "The models are here: describe a song and Compose."),
               **check(chosen, ollama_url, openai_url, key)}

    tab.get_models.click(get, inputs, [tab.status, tab.ready, tab.get_models], api_visibility="private")
