"""Create's result area: one player per take, each with its download buttons, hidden until that take exists.

They sit in Create's right column, right under Compose and its status line, so a finished take is where the
eye is (not under the song's long fields); Take 1 first, where the live player was.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from app.studio.history import EXPORT_FORMATS

MAX_TAKES = 8


@dataclass
class TakeSlot:
    """One take's player and its download buttons (hidden until that take exists)."""

    box: gr.Group
    audio: gr.Audio
    downloads: dict[str, gr.DownloadButton]


def build() -> list[TakeSlot]:
    """Lay out MAX_TAKES hidden slots, one under the other (inside an open column)."""
    slots = []
    for index in range(1, MAX_TAKES + 1):
        with gr.Group(visible=False, elem_id=f"take-{index}") as box:
            audio = gr.Audio(label=f"Take {index}", type="filepath", interactive=False, elem_id=f"take-{index}-audio")
            with gr.Row():
                downloads = {
                    fmt: gr.DownloadButton(fmt.upper(), size="sm", visible=False, min_width=50,
                                           elem_id=f"take-{index}-{fmt}")
                    for fmt in EXPORT_FORMATS
                }
        slots.append(TakeSlot(box, audio, downloads))
    return slots
