"""The official prompt layout: tags lowercased and wrapped (never otherwise rewritten), bos/eos rules."""

import pytest
import torch

from heartmula_core.errors import InvalidRequest, ModelNotAvailable
from heartmula_core.lm.prompting import PromptBuilder


@pytest.fixture(scope="module")
def builder(heartmula_ref):
    return PromptBuilder.from_folder(heartmula_ref / "tiny" / "HeartMuLaGen-tiny")


def text_column(prompt):
    return prompt.tokens[:, -1].tolist()


def test_layout_tags_slot_lyrics(builder):
    prompt = builder.build("Pop, Electric Guitar", "[Verse]\nHello World")
    tags = builder.tokenizer.encode("<tag>pop, electric guitar</tag>").ids + [2]  # only lowercased
    lyrics = builder.tokenizer.encode("[verse]\nhello world").ids + [2]
    assert tags[0] == 1 and lyrics[0] == 1  # the tokenizer's post-processor already adds bos
    assert text_column(prompt) == [*tags, 0, *lyrics]
    assert prompt.muq_idx == len(tags)
    assert prompt.tokens.shape == (len(tags) + 1 + len(lyrics), 9)
    assert not prompt.tokens[:, :8].any()
    assert prompt.mask[:, -1].all() and not prompt.mask[:, :8].any()


def test_tags_already_wrapped_are_not_wrapped_again(builder):
    assert text_column(builder.build("<tag>rock</tag>", "x")) == text_column(builder.build("ROCK", "x"))


def test_bos_and_eos_added_only_when_missing(builder):
    ids = builder.encode("hello")
    assert ids[0] == builder.gen.text_bos_id and ids[-1] == builder.gen.text_eos_id
    assert ids.count(builder.gen.text_bos_id) == 1 and ids.count(builder.gen.text_eos_id) == 1
    ending_in_eos = builder.encode("hello<|end_of_text|>")
    assert ending_in_eos.count(builder.gen.text_eos_id) == 1


@pytest.mark.parametrize(("tags", "lyrics", "message"), [("", "la", "tags"), ("  ", "la", "tags"), ("pop", "\n", "lyrics")])
def test_empty_tags_or_lyrics(builder, tags, lyrics, message):
    with pytest.raises(InvalidRequest, match=message):
        builder.build(tags, lyrics)


def test_missing_tokenizer_folder(tmp_path):
    with pytest.raises(ModelNotAvailable):
        PromptBuilder.from_folder(tmp_path / "nowhere")
    (tmp_path / "gen_config.json").write_text("{}")
    with pytest.raises(ModelNotAvailable, match="tokenizer.json"):
        PromptBuilder.from_folder(tmp_path)


def test_tokens_are_int64(builder):
    prompt = builder.build("pop", "la")
    assert prompt.tokens.dtype == torch.long and prompt.mask.dtype == torch.bool
