"""The songwriting layer: an LLM (Ollama or any OpenAI-compatible server) fills the fields a musician left open.

`SongWriter(backend).write(sheet, fill)` is the entry point; see `writer.py`. Depends on nothing in the engine.
"""

from .backends import Health, LLMBackend, OllamaBackend, OpenAIBackend, make_backend
from .errors import Cancelled, LLMError, SheetError, SongwriterError
from .sheet import Field, SongSheet, parse_fill
from .writer import SongWriter, WriteResult

__all__ = [
    "Cancelled",
    "Field",
    "Health",
    "LLMBackend",
    "LLMError",
    "OllamaBackend",
    "OpenAIBackend",
    "SheetError",
    "SongSheet",
    "SongWriter",
    "SongwriterError",
    "WriteResult",
    "make_backend",
    "parse_fill",
]
