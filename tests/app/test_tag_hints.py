"""Tag suggestions from the vocabulary in prompts/tags/ as the musician types: completions of the tag being typed,
then the next category HeartMuLa most often saw; given tags never come back; a picked tag goes in its place."""

from __future__ import annotations

import pytest

from app.songwriter.prompts import PromptLibrary
from app.songwriter.tag_hints import add_tag, suggest_tags, unfinished
from app.songwriter.tags import CATEGORIES, TagVocabulary


@pytest.fixture(scope="module")
def vocabulary() -> TagVocabulary:
    return PromptLibrary().vocabulary()


def test_an_empty_field_starts_with_the_genres(vocabulary: TagVocabulary) -> None:
    assert suggest_tags("", vocabulary) == vocabulary.categories["genre"][:8]


def test_the_tag_being_typed_is_completed_from_the_vocabulary(vocabulary: TagVocabulary) -> None:
    assert suggest_tags("pop,fem", vocabulary) == ["female vocal", "female"]
    assert suggest_tags("Pop, Male Vo", vocabulary)[0] == "male vocal"  # case and spaces as typed
    assert suggest_tags("jaz", vocabulary) == ["jazz"]  # not taken for a finished tag it is close to
    assert suggest_tags("pop", vocabulary)[:3] == ["pop punk", "indie pop", "city pop"]  # starts, then words
    assert "pop" not in suggest_tags("pop", vocabulary)  # what is typed already is not offered


def test_a_finished_tag_brings_the_next_category_without_what_is_given(vocabulary: TagVocabulary) -> None:
    after_genre = suggest_tags("pop,", vocabulary)
    assert after_genre == vocabulary.categories["timbre"][:8]
    after_timbre = suggest_tags("pop,warm,", vocabulary)
    assert after_timbre == vocabulary.categories["gender"][:8]
    # A category partly given is covered; a given tag is never offered again, even spelled near.
    assert "female vocal" not in suggest_tags("pop,female vocals,fe", vocabulary)


def test_every_category_given_leaves_nothing_to_offer(vocabulary: TagVocabulary) -> None:
    every = ",".join(vocabulary.categories[name][0] for name in CATEGORIES) + ","
    assert suggest_tags(every, vocabulary) == []


def test_a_picked_tag_replaces_the_one_being_typed_and_leaves_room_for_the_next() -> None:
    assert add_tag("pop,fem", "female vocal") == "pop,female vocal,"
    assert add_tag("", "pop") == "pop,"
    assert add_tag("pop , warm, ", "male vocal") == "pop,warm,male vocal,"
    assert unfinished("pop,Female  Vo") == "female vo" and unfinished("pop,") == ""
