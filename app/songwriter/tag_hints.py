"""Tag suggestions while a musician types the Tags field, from the vocabulary in `prompts/tags/`.

While a tag is being typed (the text after the last comma), the suggestions complete it: vocabulary tags that
start with it, then those with a word that starts with it, then near spellings. Once the last tag is finished
(the field is empty or ends with a comma), they offer what HeartMuLa most often saw next: a genre when there is
none yet (exactly one, first), then the tags of the first category the field does not cover yet, in training
frequency order (timbre, gender, mood, instrument, scene, region, topic). Tags already given are never offered.
"""

from __future__ import annotations

import difflib

from .tags import CATEGORIES, SEPARATORS, TagVocabulary, split_tags

MAX_SUGGESTIONS = 8


def unfinished(typed: str) -> str:
    """The tag being typed: the cleaned text after the last separator ("" when the field ends with one)."""
    last = SEPARATORS.split(typed)[-1]
    return " ".join(last.lower().split())


def suggest_tags(typed: str, vocabulary: TagVocabulary, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Up to `limit` vocabulary tags to offer for the Tags field's text `typed` (see the module docstring)."""
    partial = unfinished(typed)
    finished = SEPARATORS.split(typed)[:-1]  # the tag being typed is not given yet ("pop" may become "pop punk")
    given = {vocabulary.closest(t) or t for t in split_tags(",".join(finished))}
    if partial:
        every = [t for name in CATEGORIES for t in vocabulary.categories[name] if t not in given]
        starts = [t for t in every if t.startswith(partial)]
        words = [t for t in every if t not in starts and any(w.startswith(partial) for w in t.split())]
        near = difflib.get_close_matches(partial, every, n=limit, cutoff=0.7)
        found = list(dict.fromkeys(starts + words + near))
        return [t for t in found if t != partial][:limit]
    covered = {vocabulary.category(t) for t in given}
    for name in CATEGORIES:
        offered = [t for t in vocabulary.categories[name] if t not in given]
        if name not in covered and offered:
            return offered[:limit]
    return []


def add_tag(typed: str, tag: str) -> str:
    """`typed` with the tag being typed replaced by `tag` (or `tag` added after the last one), as bare-comma tags
    ready for the next one: "pop,fem" + "female vocal" -> "pop,female vocal,"."""
    parts = SEPARATORS.split(typed)
    kept = [p.strip() for p in parts[:-1] if p.strip()]
    return ",".join([*kept, tag]) + ","
