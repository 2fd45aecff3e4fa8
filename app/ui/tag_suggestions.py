"""Tag suggestions under Create's Tags field: chips from the vocabulary in `prompts/tags/` that follow what the
musician types (app/songwriter/tag_hints.py says which); a click puts the tag in the field."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.songwriter.tag_hints import add_tag
from app.studio.service import Studio

from .common import guarded


def build(studio: Studio) -> gr.Radio:
    """Lay out the chips (under the Tags field), filled for an empty field: the genres to start with."""
    return gr.Radio(studio.tag_suggestions(""), value=None, label="Suggested tags (click to add)",
                    elem_id="create-tag-hints", elem_classes="hs-chips")


def wire(chips: gr.Radio, tags: gr.Textbox, studio: Studio) -> None:
    """Suggestions follow the field (typed, written by the LLM or loaded); a chip clicked goes into it."""

    def chips_for(typed: str) -> Any:
        offered = studio.tag_suggestions(typed)
        return gr.update(choices=offered, value=None, visible=bool(offered))

    @guarded
    def follow(typed: str | None) -> Any:
        return chips_for(typed or "")

    # Not queued, and only the latest: a suggestion line must keep up with typing, never wait behind a Compose.
    tags.change(follow, tags, chips, api_visibility="private", queue=False, show_progress="hidden",
                trigger_mode="always_last")

    @guarded
    def pick(tag: str | None, typed: str | None) -> dict[Any, Any]:
        if not tag:
            return {}
        text = add_tag(typed or "", tag)
        return {tags: text, chips: chips_for(text)}

    chips.input(pick, [chips, tags], [tags, chips], api_visibility="private", queue=False, show_progress="hidden")
