"""A tiny random Whisper checkpoint laid out like HeartTranscriptor-oss, built offline for the tests.

Real pieces, tiny sizes: a byte-level BPE tokenizer trained here on a few lyric lines and wrapped as
transformers' WhisperTokenizer with Whisper's special and timestamp tokens, the real feature extractor
(80 mel bins, 30 s), a one-layer WhisperForConditionalGeneration and a generation config with the
language/task/timestamp ids, all written with save_pretrained. The model is random, so it "hears" noise;
tests assert on shapes and flow, never on words.
"""

from __future__ import annotations

import json
from pathlib import Path

LANGUAGES = ("<|en|>", "<|es|>")
TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>, 20 ms apart
MAX_TOKENS = 24  # keeps the random model's generation short on a busy CPU
_CORPUS = [
    "hold me closer in the neon rain",
    "we were singing on the night train",
    "la la la love is all we need",
    "dancing in the kitchen at the end of the day",
]


def build_tiny_transcriptor(folder: Path) -> Path:
    """Write the checkpoint into `folder` (created) and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|endoftext|>"]
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer)
    merges = json.loads(bpe.to_str())["model"]["merges"]  # ["a b", ...] or [["a", "b"], ...] by version
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]
    tokenizer = WhisperTokenizer(vocab=bpe.get_vocab(), merges=merges)
    specials = ["<|startoftranscript|>", *LANGUAGES, "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]  # fmt: skip
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)])  # must follow <|notimestamps|>
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ["<|endoftext|>", *specials]}
    eot = ids["<|endoftext|>"]

    features = WhisperFeatureExtractor(feature_size=80)
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        d_model=16,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_source_positions=1500,
        max_target_positions=64,
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=True,
        lang_to_id={lang: ids[lang] for lang in LANGUAGES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        max_initial_timestamp_index=50,
        max_length=MAX_TOKENS,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)
    features.save_pretrained(folder)  # preprocessor_config.json, as the official folder has it
    return folder
