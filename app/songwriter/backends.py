"""LLM backends: Ollama (fully local) and any OpenAI-compatible server, behind one interface.

    backend = make_backend(settings)                 # or make_backend(settings, "openai")
    backend.health()                                 # Health(ok=True, message="ollama at ...: 3 models", ...)
    text = backend.chat_json(messages, schema, on_text=show, cancel=stop_event)
    backend.unload()                                 # Ollama: free the GPU for the music (keep_alive=0)

`chat_json` asks for one JSON object matching `schema` (Ollama: `format=<schema>`; OpenAI: `response_format`
json_schema, falling back to json_object and then to plain text for servers that reject it), streams the
text so far to `on_text`, stops with `Cancelled` when `cancel` is set, and gives up with an `LLMError` (one line
naming the backend and URL) when the server is down, slow past the timeout, answers an HTTP error, or sends junk.
It returns the raw text; parsing and validating it is the writer's job.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import Cancelled, LLMError

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
TextCallback = Callable[[str], None]
# Songwriting wants some invention but a stable form; the same for every backend.
TEMPERATURE = 0.8
# How often the waiting side looks at the cancel event while the server is silent.
CANCEL_POLL_S = 0.1


class CancelEvent(Protocol):
    """Anything with `is_set()`, e.g. `threading.Event`."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Health:
    """What a health check found: `message` is one line for the settings page."""

    ok: bool
    message: str
    models: tuple[str, ...] = field(default=())


class LLMBackend(ABC):
    """One LLM server. Subclasses say how to list models and stream a JSON answer; the rest is shared."""

    name: str = ""

    def __init__(self, url: str, model: str, timeout_s: float, secret: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.model = model  # empty: the first chat model the server lists, picked on first use
        self.timeout_s = timeout_s
        self._secret = secret  # scrubbed from every error message, whatever a server echoes back

    # --- what each backend implements ---
    @abstractmethod
    def _list_models(self) -> list[str]: ...

    @abstractmethod
    def _stream(self, model: str, messages: Sequence[Message], schema: dict[str, Any]) -> Iterator[str]:
        """Yield the answer's text in pieces as they arrive."""

    @abstractmethod
    def _describe(self, exc: BaseException) -> str | None:
        """A short phrase for a client-library exception (`cannot connect`, `HTTP 500: ...`), None if unknown."""

    def unload(self) -> None:
        """Ask the server to free the model's memory now (a no-op where the server decides that itself)."""

    # --- the shared interface ---
    def error(self, problem: str) -> LLMError:
        if self._secret:
            problem = problem.replace(self._secret, "***")
        return LLMError(self.name, self.url, problem)

    def list_models(self) -> list[str]:
        """The model names the server offers. Raises LLMError if it cannot be reached."""
        try:
            return self._list_models()
        except Exception as exc:  # every client failure becomes one clear line
            raise self._translate(exc) from None

    def health(self) -> Health:
        """Reachable, and does it have the configured model? Never raises."""
        try:
            models = tuple(self.list_models())
        except LLMError as exc:
            return Health(False, str(exc))
        where = f"{self.name} at {self.url}"
        if self.model and self.model not in models:
            return Health(False, f"{where}: no model named {self.model!r}", models)
        try:
            model = self._pick_model(models)
        except LLMError as exc:
            return Health(False, str(exc), models)
        count = "1 model" if len(models) == 1 else f"{len(models)} models"
        return Health(True, f"{where}: {count}, using {model}", models)

    def resolved_model(self) -> str:
        """The configured model, or the first chat model the server lists when none is configured."""
        return self.model or self._pick_model(self.list_models())

    def _pick_model(self, models: Sequence[str]) -> str:
        if not self.model:
            chat_models = [m for m in models if "embed" not in m.lower()]
            if not chat_models:
                raise self.error("no model configured and the server lists no chat model")
            self.model = chat_models[0]
            log.info("%s: no model configured, using %s", self.name, self.model)
        return self.model

    def chat_json(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        *,
        on_text: TextCallback | None = None,
        cancel: CancelEvent | None = None,
        max_chars: int | None = None,
    ) -> str:
        """Ask for one JSON object matching `schema`; return the answer's text.

        Args:
            messages: the conversation, system prompt first.
            schema: a JSON schema (an object with `properties`) for the answer.
            on_text: called with the whole text so far each time more arrives (for a live preview).
            cancel: when set, stop waiting and raise `Cancelled`.
            max_chars: stop reading (and close the response) once the answer is longer than this.
        Raises:
            LLMError: down, no complete answer within `timeout_s`, an HTTP error, an unreadable stream, or an
                answer longer than `max_chars`.
            Cancelled: `cancel` was set.
        """
        model = self.resolved_model()
        deadline = time.monotonic() + self.timeout_s
        # The request runs in a worker so a cancel or the overall deadline can end the wait at once, even while
        # the server has not sent a byte; an abandoned worker ends at its own read timeout.
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()
        abandoned = threading.Event()

        def pump() -> None:
            stream = self._stream(model, messages, schema)
            try:
                for piece in stream:
                    if abandoned.is_set():
                        return
                    pieces.put(("text", piece))
                pieces.put(("done", None))
            except Exception as exc:
                pieces.put(("error", exc))
            finally:
                stream.close()  # type: ignore[attr-defined]  # generators: closes the HTTP response

        threading.Thread(target=pump, name=f"{self.name}-chat", daemon=True).start()
        text = ""
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"stopped while {self.name} was writing")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self.error(f"no complete answer within {self.timeout_s:g} s (timeout)")
                try:
                    kind, value = pieces.get(timeout=min(CANCEL_POLL_S, remaining))
                except queue.Empty:
                    continue
                if kind == "error":
                    raise self._translate(value) from None
                if kind == "done":
                    return text
                text += value
                if max_chars is not None and len(text) > max_chars:
                    # A runaway model can stream megabytes; the worker stops at its next piece (finally below).
                    raise self.error(f"the answer ran past {max_chars:,} characters, far longer than any song "
                                     "sheet; stopped reading it")
                if on_text is not None:
                    on_text(text)
        finally:
            abandoned.set()

    def _translate(self, exc: BaseException) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        problem = self._describe(exc)
        if problem is None:
            if isinstance(exc, ValueError):  # json.JSONDecodeError, pydantic's ValidationError
                problem = f"unreadable answer ({_short(exc)})"
            else:
                log.debug("unexpected %s error", self.name, exc_info=exc)
                problem = f"{type(exc).__name__}: {_short(exc)}"
        return self.error(problem)


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Ollama ---------------------------------------------------------------------------------------------------


class OllamaBackend(LLMBackend):
    """A local (or remote) Ollama server through the `ollama` client library."""

    name = "ollama"

    def __init__(self, url: str, model: str = "", timeout_s: float = 120.0) -> None:
        import ollama

        super().__init__(url, model, timeout_s)
        self._client = ollama.Client(host=self.url, timeout=timeout_s)
        self._loaded = False  # set once the server answered a chat, so it holds the model in memory

    def _list_models(self) -> list[str]:
        return [m.model for m in self._client.list().models if m.model]

    def _stream(self, model: str, messages: Sequence[Message], schema: dict[str, Any]) -> Iterator[str]:
        parts = self._client.chat(
            model=model, messages=list(messages), format=schema, stream=True, options={"temperature": TEMPERATURE}
        )
        try:
            for part in parts:
                self._loaded = True
                if part.message.content:
                    yield part.message.content
        finally:
            parts.close()  # type: ignore[attr-defined]  # ends the streamed HTTP response

    def unload(self) -> None:
        """Free the model's (GPU) memory now instead of after Ollama's idle timeout, so the music has it.
        A failure only costs memory, so it is logged, not raised."""
        if not (self._loaded and self.model):
            return
        try:
            self._client.generate(model=self.model, keep_alive=0)
            self._loaded = False
        except Exception as exc:
            log.warning("%s", self.error(f"could not unload {self.model} ({_short(exc)})"))

    def _describe(self, exc: BaseException) -> str | None:
        import httpx
        import ollama

        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404:
                return f"model {self.model!r} not found (HTTP 404; `ollama pull {self.model}` fetches it)"
            code = f"HTTP {exc.status_code}" if exc.status_code > 0 else "error"
            return f"{code}: {_short(exc.error)}"
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return "cannot connect (is Ollama running? `ollama serve` starts it)"
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer within {self.timeout_s:g} s (timeout)"
        if isinstance(exc, httpx.HTTPError):
            return f"connection failed ({_short(exc)})"
        return None


# --- OpenAI-compatible ------------------------------------------------------------------------------------------

# What to ask for, strictest first; a server that rejects one gets the next (remembered per backend).
RESPONSE_FORMATS = ("json_schema", "json_object", "plain")


class OpenAIBackend(LLMBackend):
    """Any OpenAI-compatible chat server (OpenAI, LM Studio, vLLM, llama.cpp server, OpenRouter...)."""

    name = "openai"

    def __init__(self, url: str, model: str = "", timeout_s: float = 120.0, api_key: str | None = None) -> None:
        import openai

        super().__init__(url, model, timeout_s, secret=api_key)
        # Local servers need no key, but the client insists on one.
        self._client = openai.OpenAI(base_url=self.url, api_key=api_key or "none", timeout=timeout_s, max_retries=0)
        self._format = RESPONSE_FORMATS[0]

    def _list_models(self) -> list[str]:
        return [m.id for m in self._client.models.list()]

    def _response_format(self, kind: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        if kind == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "song_sheet", "schema": schema, "strict": True}}
        if kind == "json_object":
            return {"type": "json_object"}
        return None

    def _stream(self, model: str, messages: Sequence[Message], schema: dict[str, Any]) -> Iterator[str]:
        import openai

        while True:
            fmt = self._response_format(self._format, schema)
            extra = {"response_format": fmt} if fmt else {}
            try:
                stream = self._client.chat.completions.create(
                    model=model, messages=list(messages), stream=True, temperature=TEMPERATURE, **extra  # type: ignore[arg-type]
                )
                break
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if self._format == RESPONSE_FORMATS[-1]:
                    raise
                following = RESPONSE_FORMATS[RESPONSE_FORMATS.index(self._format) + 1]
                log.info("%s rejected response_format %s (%s); trying %s", self.url, self._format, _short(exc), following)
                self._format = following
        with stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

    def _describe(self, exc: BaseException) -> str | None:
        import openai

        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError: it is one
            return f"no answer within {self.timeout_s:g} s (timeout)"
        if isinstance(exc, openai.APIConnectionError):
            return "cannot connect (is the server running, and is the base URL right?)"
        if isinstance(exc, openai.AuthenticationError):
            return "the server refused the API key (HTTP 401): set HEARTSONG_OPENAI_API_KEY"
        if isinstance(exc, openai.NotFoundError):
            return f"not found (HTTP 404): is the model {self.model!r} and the base URL right? ({_short(exc)})"
        if isinstance(exc, openai.APIStatusError):
            return f"HTTP {exc.status_code}: {_short(_status_message(exc))}"
        if isinstance(exc, openai.APIError):
            return f"unreadable answer ({_short(exc)})"
        return None


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", exc))


def make_backend(settings: Settings, backend_name: str | None = None) -> LLMBackend:
    """The backend `settings` describe (or `backend_name`, `ollama` / `openai`, with its settings)."""
    name = backend_name or settings.llm_backend
    if name == "ollama":
        return OllamaBackend(settings.ollama_url, settings.ollama_model, settings.llm_timeout_s)
    if name == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIBackend(settings.openai_base_url, settings.openai_model, settings.llm_timeout_s, api_key=key)
    raise ValueError(f"unknown LLM backend {name!r}: choose ollama or openai")
