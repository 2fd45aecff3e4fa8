"""The Gradio page: `build_app(studio)` lays it out, `launch_app(studio, host, port)` serves it."""

from .app import build_app, launch_app

__all__ = ["build_app", "launch_app"]
