"""Reading fields out of an LLM answer that is still arriving."""

from __future__ import annotations

import json

from app.ui.live_text import partial_fields


def test_every_prefix_of_an_answer_reads_as_a_prefix_of_its_fields() -> None:
    answer = {"title": "Été \"Ride\"", "lyrics": "[verse]\nline one\\two\n\u266a end", "tags": ["pop"]}
    text = json.dumps(answer)
    for cut in range(len(text) + 1):
        seen = partial_fields(text[:cut], ["title", "lyrics", "tags"])
        assert "tags" not in seen  # not a string: left to the final sheet
        for name, value in seen.items():
            assert answer[name].startswith(value), (cut, name, value)
    assert partial_fields(text, ["title", "lyrics"]) == {"title": answer["title"], "lyrics": answer["lyrics"]}


def test_fields_not_started_are_absent() -> None:
    assert partial_fields('{"title": "Sum', ["title", "lyrics"]) == {"title": "Sum"}
    assert partial_fields("", ["title"]) == {}
