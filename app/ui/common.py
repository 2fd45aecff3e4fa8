"""What every tab shares: turning errors into messages a musician reads, and the progress line."""

from __future__ import annotations

import functools
import html
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from app.songwriter.errors import LLMError
from app.studio.errors import explain
from app.studio.jobs import Progress

log = logging.getLogger(__name__)

SORRY = "Something went wrong inside Heartsong; nothing was lost. The details are in the terminal that runs it."


def as_message(exc: BaseException) -> gr.Error:
    """The `gr.Error` to show for `exc`: its one-line explanation, or an apology (with the traceback logged)."""
    message = explain(exc)
    if message is None:
        log.exception("unexpected error in a page handler", exc_info=exc)
        message = SORRY
    elif isinstance(exc, LLMError):  # the server's terminal says it too: whoever runs it can mend it there
        log.warning("the LLM could not answer: %s", message)
    return gr.Error(message, print_exception=False)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a handler (plain or generator) so every error reaches the page as a clear `gr.Error`, never a traceback."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                raise as_message(exc) from None

        return generator

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            raise as_message(exc) from None

    return plain


def session_of(request: gr.Request | None) -> str:
    """The browser tab's session id (what Stop uses to find this tab's jobs)."""
    return getattr(request, "session_hash", None) or ""


def upload_note(path: str | None, what: str, check: Callable[[str], tuple[Any, int]]) -> str:
    """The status line for an uploaded recording (its length) once `check(path)` read it (the studio's check
    for that kind of upload, which raises a clear error for a corrupt, too large or too short one)."""
    if not path:
        return ""
    audio, rate = check(path)
    return progress_html(None, f"{what}: {audio.shape[-1] / rate:.1f} s of audio.")


def counted(count: int, noun: str) -> str:
    """"1 take", "2 takes": a count with its noun in the right number."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def progress_html(progress: Progress | None, note: str = "") -> str:
    """A progress bar with the phase line under it (empty when nothing runs)."""
    if progress is None:
        return f'<div class="hs-status">{html.escape(note)}</div>' if note else ""
    percent = 100 if progress.phase == "done" else round(progress.fraction * 100)
    bar = f'<div class="hs-bar"><div style="width:{percent}%"></div></div>' if progress.total else ""
    return f'{bar}<div class="hs-status" data-phase="{progress.phase}">{html.escape(progress.describe())}</div>'


CSS = """
.hs-bar { height: 8px; border-radius: 4px; background: var(--neutral-200); overflow: hidden; margin: 4px 0; }
.hs-bar > div { height: 100%; background: var(--color-accent); transition: width .3s; }
.hs-status { font-size: var(--text-md); color: var(--body-text-color-subdued); min-height: 1.4em; }
.hs-hint { color: var(--body-text-color-subdued); font-size: var(--text-sm); }
.hs-gen { max-width: 10em; }
.hs-gen label, .hs-gen span { white-space: nowrap; }
.hs-live { display: flex; align-items: center; gap: 12px; color: var(--body-text-color-subdued); }
.hs-live audio { flex: 1; min-width: 0; }
.hs-ready { font-size: var(--text-md); line-height: 1.6; }
.hs-ready .hs-missing { color: var(--error-text-color); }
.hs-chips .wrap { gap: 6px; }
.hs-chips label { border-radius: 999px; padding: 2px 10px; cursor: pointer; }
.hs-chips input[type=radio] { display: none; }
#create-stop { color: var(--error-text-color); border-color: var(--error-border-color); }
"""
