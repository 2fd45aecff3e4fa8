"""app/songwriter/tags.py: the vocabulary files and HeartMuLa tag normalisation."""

from __future__ import annotations

from pathlib import Path

from app.songwriter.prompts import PromptLibrary
from app.songwriter.tags import CATEGORIES, TagVocabulary, normalize_tags, split_tags


def vocab() -> TagVocabulary:
    return PromptLibrary().vocabulary()


def test_every_category_has_a_vocabulary_file() -> None:
    v = vocab()
    assert CATEGORIES == ("genre", "timbre", "gender", "mood", "instrument", "scene", "region", "topic")
    for name in CATEGORIES:
        assert v.categories[name], name
        assert all(t == t.lower().strip() and "," not in t for t in v.categories[name])


def test_odd_case_duplicates_and_blanks() -> None:
    result = normalize_tags(" Piano, HAPPY,,happy , , Pop ,PIANO,", vocab())
    assert result.tags == "pop,happy,piano"  # genre first, then mood before instrument; bare commas
    assert result.unknown == ()


def test_near_spellings_map_onto_the_vocabulary() -> None:
    result = normalize_tags("Male Vocals,hip hop,Acoustic Guitars", vocab())
    assert result.tags == "hip-hop,male vocal,acoustic guitar"
    assert "tag 'male vocals' read as 'male vocal'" in result.notes


def test_one_genre_first_extra_genres_dropped_and_reported() -> None:
    result = normalize_tags("happy,rock,jazz,female vocal,pop", vocab())
    assert result.tags == "rock,female vocal,happy"
    assert sum("dropped extra genre" in n for n in result.notes) == 2


def test_categories_in_training_frequency_order() -> None:
    result = normalize_tags("love,chinese,wedding,piano,romantic,female vocal,warm,ballad", vocab())
    assert result.tags == "ballad,warm,female vocal,romantic,piano,wedding,chinese,love"


def test_unknown_tags_kept_last_and_flagged() -> None:
    result = normalize_tags("quirkytronica,pop,happy", vocab())
    assert result.tags == "pop,happy,quirkytronica"
    assert result.unknown == ("quirkytronica",)
    assert any("quirkytronica" in n and "not in the vocabulary" in n for n in result.notes)


def test_markup_and_separators_cleaned() -> None:
    assert split_tags('<tag>Pop</tag>; "Happy"\n#piano') == ["pop", "happy", "piano"]


def test_vocabulary_is_read_from_files(tmp_path: Path) -> None:
    (tmp_path / "genre.txt").write_text("# comment\nSea Shanty\n\n", encoding="utf-8")
    v = TagVocabulary.load(tmp_path)  # the other categories have no file: empty
    assert v.categories["genre"] == ["sea shanty"] and v.categories["mood"] == []
    assert normalize_tags("Sea-Shanty,pop", v).tags == "sea shanty,pop"
