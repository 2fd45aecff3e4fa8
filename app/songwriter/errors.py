"""The songwriting layer's typed errors: one line each, fit for a CLI's stderr or a web page's banner."""

from __future__ import annotations


class SongwriterError(Exception):
    """Base class for every error the songwriting layer raises on purpose (the CLI turns it into one line)."""


class SheetError(SongwriterError, ValueError):
    """The musician's sheet cannot be written as asked (nothing to go on, lyrics far too long...)."""


class LLMError(SongwriterError):
    """The LLM server could not give a usable answer: down, too slow, an HTTP error, or junk.

    The message is one line that names the backend and its URL, e.g.
    `ollama at http://127.0.0.1:11434: cannot connect (is Ollama running?)`.
    """

    def __init__(self, backend: str, url: str, problem: str) -> None:
        self.backend, self.url = backend, url
        self.problem = " ".join(problem.split())  # one line, whatever the server sent
        super().__init__(f"{backend} at {url}: {self.problem}")


class Cancelled(SongwriterError):
    """The caller's cancel event was set while the LLM was answering; nothing was changed."""
