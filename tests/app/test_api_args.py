"""Hostile arguments through the named API (issue 17.9): each is refused before any work, naming the argument.

The checks themselves (app/ui/api_args.py, what every endpoint calls first) get the long list of values; a few
go through gradio_client to the real app, where a refused /compose must neither ask the LLM nor make music.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings import load_settings
from app.studio.service import Studio
from app.ui import api_args
from tests.llm_server import LLMServer

from .conftest import TEST_MODEL, serving
from .test_studio_service import CountingMaker

GOOD_SHEET = ("rain", "", "[verse]\nla", "pop", 30.0)
NOT_TEXT = [None, 5, 1.5, True, ["a"], {"a": 1}]
NOT_SECONDS = [None, "30", [30], {"s": 30}, True, 1e308, -1e308, math.nan, math.inf, -5, 0, 0.5, 601]
NOT_VARIANTS = [None, 1.5, "2", True, 0, 9, -1, 1e308, math.nan, math.inf, [2], 2**70]
NOT_SEEDS = [1.5, "7", True, -2, 2**64, 1e308, math.nan, -math.inf, [1], {"seed": 1}]


@pytest.mark.parametrize("position", range(4))
@pytest.mark.parametrize("value", NOT_TEXT, ids=repr)
def test_sheet_text_that_is_not_text(position: int, value) -> None:
    args = list(GOOD_SHEET)
    args[position] = value
    name = ("description", "title", "lyrics", "tags")[position]
    with pytest.raises(ValueError, match=rf"^{name} must be text, not "):
        api_args.sheet(*args)


@pytest.mark.parametrize("value", NOT_SECONDS, ids=repr)
def test_seconds_that_are_not_a_length(value) -> None:
    with pytest.raises(ValueError, match=r"^seconds must be a number from 1 to 600, not "):
        api_args.sheet(*GOOD_SHEET[:4], value)


@pytest.mark.parametrize("value", NOT_VARIANTS, ids=repr)
def test_variants_that_are_not_a_count(value) -> None:
    with pytest.raises(ValueError, match=r"^variants must be a whole number from 1 to 8, not "):
        api_args.music(value, -1, "rl")


@pytest.mark.parametrize("value", NOT_SEEDS, ids=repr)
def test_seeds_that_are_not_a_seed(value) -> None:
    with pytest.raises(ValueError, match=r"^seed must be a whole number from -1 to "):
        api_args.music(1, value, "rl")


@pytest.mark.parametrize("value", [None, 5, ["title"], "chorus", "title,verse", "x" * 1000], ids=repr)
def test_fill_that_names_no_field(value) -> None:
    with pytest.raises(ValueError, match=r"^fill "):
        api_args.fill_fields(value)


@pytest.mark.parametrize(("backend", "model", "name"), [
    (None, "", "backend"), ("kobold", "", "backend"), (5, "", "backend"), (["ollama"], "", "backend"),
    ("ollama", None, "model"), ("ollama", 7, "model"), ("ollama", "m" * 1000, "model"),
])
def test_llm_arguments(backend, model, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        api_args.llm(backend, model)


@pytest.mark.parametrize(("query", "sort", "name"), [
    (None, "newest", "query"), (5, "newest", "query"), (["rain"], "newest", "query"), ("q" * 1000, "newest", "query"),
    ("", None, "sort"), ("", "sideways", "sort"), ("", 1, "sort"),
])
def test_search_arguments(query, sort, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        api_args.search(query, sort)


# (name in the error, a bad value) in the order /continue_recording checks them; /continue has no sheet and calls
# its new lyrics "lyrics". Every argument starts bad and is mended one by one: the first error must move along.
CONTINUE_BAD = [("mode", "remix"), ("seconds", None), ("from_time", 5), ("description", None), ("title", 1),
                ("lyrics", ["a"]), ("tags", True), ("new_lyrics", 7), ("fill", "chorus"), ("seed", 1.5),
                ("variants", 0), ("backend", "kobold"), ("model", None), ("from_time", "soon")]
CONTINUE_GOOD = {"mode": "redo", "seconds": 30, "from_time": "0:12", "description": "", "title": "Demo",
                 "lyrics": "[verse]\nla", "tags": "rock", "new_lyrics": "", "fill": "lyrics", "variants": 2,
                 "seed": 7, "backend": "openai", "model": ""}


def _continuation(values: dict, *, recording: bool) -> api_args.ContinueArgs:
    return api_args.continuation(
        values["mode"], values["seconds"], values["from_time"], values["new_lyrics"], values["fill"],
        values["variants"], values["seed"], values["backend"], values["model"], lm_variant="rl",
        new_lyrics_name="new_lyrics" if recording else "lyrics",
        recording_sheet=tuple(values[n] for n in ("description", "title", "lyrics", "tags")) if recording else None)


@pytest.mark.parametrize("recording", [True, False], ids=["continue_recording", "continue"])
def test_continuation_names_the_first_bad_argument_in_order(recording: bool) -> None:
    sheet_names = ("description", "title", "lyrics", "tags")
    bad = [(n, v) for n, v in CONTINUE_BAD if recording or n not in sheet_names]
    values = {**CONTINUE_GOOD, **{n: v for n, v in reversed(bad)}}  # the first bad value of each name
    for name, value in bad:
        values[name] = value
        shown = name if recording or name != "new_lyrics" else "lyrics"
        message = "seconds or mm:ss" if value == "soon" else rf"^{shown} "
        with pytest.raises(ValueError, match=message):
            _continuation(values, recording=recording)
        values[name] = CONTINUE_GOOD[name]
    args = _continuation(values, recording=recording)
    assert (args.kind, args.seconds, args.from_seconds, args.fill) == ("redo", 30.0, 12.0, {"lyrics"})
    assert (args.music.variants, args.music.seed, args.backend) == (2, 7, "openai")
    assert args.sheet == (api_args.Sheet("", "Demo", "[verse]\nla", "rock") if recording else None)


def test_good_values_pass_as_given() -> None:
    assert api_args.sheet("rain", "", "", "pop", 30).seconds == 30.0
    music = api_args.music(2.0, 7.0, "rl")  # whole floats, as a JSON client may send them
    assert (music.variants, music.seed) == (2, 7)
    assert api_args.music(1, None, "rl").seed is None and api_args.music(1, -1, "rl").seed is None
    assert api_args.fill_fields(" Title, tags ,") == {"title", "tags"}
    assert api_args.llm("OpenAI", "") == ("openai", "")
    assert api_args.search("", "oldest") == ("", "oldest")


@pytest.fixture
def served(tmp_path: Path, llm_server: LLMServer) -> Iterator[tuple[object, CountingMaker]]:
    settings = load_settings(Path("/dev/null"), data_dir=tmp_path / "data", ollama_url=llm_server.url,
                             ollama_model=TEST_MODEL)
    maker = CountingMaker()
    with serving(Studio(settings, music=maker)) as client:
        yield client, maker


@pytest.mark.timeout(180)
def test_hostile_calls_to_the_real_api_are_refused_before_any_work(served, llm_server: LLMServer) -> None:
    from gradio_client.exceptions import AppError

    client, maker = served
    good = {"description": "rain", "title": "", "lyrics": "[verse]\nla", "tags": "pop", "fill": "title",
            "seconds": 30, "variants": 1, "seed": -1, "backend": "ollama", "model": ""}
    hostile = [("description", None), ("seconds", None), ("seconds", [30]), ("seconds", 1e308),
               ("seed", 1.5), ("variants", 1.5), ("fill", ["title"]), ("backend", None)]
    for name, value in hostile:
        with pytest.raises(AppError, match=rf"^{name} must be "):
            client.predict(*{**good, name: value}.values(), api_name="/compose")
    with pytest.raises(AppError, match=r"^seconds must be "):
        client.predict("rain", "", "", "", "title", None, "ollama", "", api_name="/write")
    with pytest.raises(AppError, match=r"^query must be text"):
        client.predict(None, "newest", api_name="/search")
    assert not maker.started.is_set() and llm_server.chat_requests == []  # nothing was made, nothing asked
