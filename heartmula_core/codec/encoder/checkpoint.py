"""Loading the official HeartCodec-oss-encoder folder, unchanged, plus the decoder checkpoint's quantizer.

The encoder folder holds `encoder_config.json` and `encoder.safetensors` (every key prefixed `encoder.`).
What happens to its keys:
- module names are mapped onto ours (`RENAMES`); transformers' Whisper and WavLM keep theirs;
- weight-normed query linears (`.parametrizations.weight.original0/1`) are folded into plain weights;
- three constant tables are checked against the ones we compute, then dropped (`CHECKED`);
- the conformer's positional conv, stored but never called, is skipped unread (`UNUSED`);
- everything else must match the model exactly (`heartmula_core.weights.load_state_dict_strict`).
The residual quantizer (project_in and the 8 codebooks) is read from the HeartCodec decoder folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ...errors import CheckpointMismatch, ModelNotAvailable
from ...style.conformer import rotary_inv_freq
from ...style.mel import MelFrontEnd
from ...style.config import read_json
from ...weights import checkpoint_files, load_state_dict_strict, read_safetensors
from ..checkpoint import CONFIG_FILE as CODEC_CONFIG_FILE
from ..checkpoint import fold_weight_norm_pairs
from ..config import HeartCodecConfig
from ..rvq import ResidualVQEncoder
from .config import EncoderConfig, QueryConfig
from .model import EncoderNetwork, HeartCodecEncoder
from .query import QueryEncoder

CONFIG_FILE = "encoder_config.json"
WEIGHTS_FILE = "encoder.safetensors"
PREFIX = "encoder."
QUERY_CONFIG_FILE = "query_config.json"
QUERY_WEIGHTS_FILE = "query.safetensors"

_MUENCODER = "features.musicfm."
MEL_WINDOW = "feature_extractors.muencoder.preprocessor_melspec_2048.mel_stft.spectrogram.window"
MEL_FBANK = "feature_extractors.muencoder.preprocessor_melspec_2048.mel_stft.mel_scale.fb"
CONFORMER_INV_FREQ = "feature_extractors.muencoder.conformer.embed_positions.inv_freq"
CHECKED = (MEL_WINDOW, MEL_FBANK, CONFORMER_INV_FREQ)  # recomputed by us; the stored copy must agree

# Stored, never used: transformers' Wav2Vec2ConformerEncoder builds it but its forward does not call it.
UNUSED = re.compile(r"^(encoder\.)?feature_extractors\.muencoder\.conformer\.pos_conv_embed\.")

# Official name (prefix stripped) -> ours, applied in order.
RENAMES: tuple[tuple[str, str], ...] = (
    (r"^feature_extractors\.whisper_encoder\.", "features.whisper."),
    (r"^feature_extractors\.wavlm_encoder\.", "features.wavlm."),
    (r"^feature_extractors\.muencoder\.conv\.conv\.", _MUENCODER + "subsampling.blocks."),
    (r"^feature_extractors\.muencoder\.conv\.linear\.", _MUENCODER + "subsampling.linear."),
    (r"^feature_extractors\.muencoder\.conformer\.", _MUENCODER + "conformer."),
    (r"^query\.cond_fusion_layer_acoustic\.", "query.acoustic_proj."),
    (r"^query\.cond_fusion_layer_semantic\.", "query.semantic_proj."),
    (r"^query\.cond_fusion_layer_phone\.", "query.wavlm_proj."),
    (r"^query\.feature_proj\.", "query.fuse."),
    (r"^query\.encoder_transformers\.", "query.blocks."),
    (r"\.self_attn_scale\.scale$", ".attn_scale"),
    (r"\.ff_scale\.scale$", ".ff_scale"),
    (r"\.self_attn\.(to_qkv|to_out|q_norm|k_norm)\.", r".attn.\1."),
    (r"\.ff\.ff\.0\.proj\.", ".ff.proj."),
    (r"\.ff\.ff\.2\.", ".ff.out."),
)
WEIGHT_NORM = re.compile(r"^(query\..*)\.parametrizations\.weight\.original([01])$")

# The decoder checkpoint's quantizer tensors the encoder needs.
QUANTIZER_IN = "flow_matching.vq_embed.project_in."
CODEBOOK = re.compile(r"^flow_matching\.vq_embed\.layers\.(\d+)\._codebook\.embed$")


def to_module_name(key: str) -> str:
    """Official key without its `encoder.` prefix -> our parameter name (unknown keys pass unchanged)."""
    for pattern, replacement in RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def convert(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official state (prefix stripped, unused keys already left out) -> ours: renamed, weight norm folded."""
    out: dict[str, torch.Tensor] = {}
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        if match := WEIGHT_NORM.match(key):
            halves.setdefault(match[1], {})[match[2]] = tensor
        else:
            out[to_module_name(key)] = tensor
    return out | fold_weight_norm_pairs(halves, to_module_name)


def check_constants(state: dict[str, torch.Tensor], cfg: EncoderConfig, source: str) -> None:
    """Pop the stored mel window, filterbank and rotary frequencies; each must equal what we compute."""
    window, fbank = MelFrontEnd(cfg.musicfm).tables(torch.device("cpu"))
    ours = {
        MEL_WINDOW: window,
        MEL_FBANK: fbank,
        CONFORMER_INV_FREQ: rotary_inv_freq(cfg.musicfm.head_dim, cfg.musicfm.rotary_base),
    }
    for key, expected in ours.items():
        stored = state.pop(key, None)
        if stored is None:
            raise CheckpointMismatch(f"{source} does not match the model: missing 1: {PREFIX}{key}")
        if stored.shape != expected.shape or not torch.allclose(stored.float(), expected, rtol=1e-5, atol=1e-7):
            raise CheckpointMismatch(f"{source}: {PREFIX}{key} differs from the table the config gives")


def _read_prefixed(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """Every tensor of one safetensors file but the unused ones; every key must start with `prefix`."""
    state = read_safetensors(path, skip=lambda k: UNUSED.match(k) is not None)
    stray = [k for k in state if not k.startswith(prefix)]
    if stray:
        raise CheckpointMismatch(f"{path}: {len(stray)} keys do not start with '{prefix}' ({stray[0]}...)")
    return state


def _weights(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ModelNotAvailable(f"{folder}: no {name} (the download is incomplete or this is another folder)")
    return path


def build_network(cfg: EncoderConfig, device: torch.device | str = "meta") -> EncoderNetwork:
    """The encoder network with uninitialised tensors (on `meta` by default: no memory)."""
    with torch.device(device):
        return EncoderNetwork(cfg)


def load_network(folder: str | Path) -> EncoderNetwork:
    """The official encoder folder -> EncoderNetwork on the CPU in float32, eval mode, strictly checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelNotAvailable(f"HeartCodec encoder folder not found: {folder}")
    cfg = EncoderConfig.from_json(folder / CONFIG_FILE)
    path = _weights(folder, WEIGHTS_FILE)
    state = {k.removeprefix(PREFIX): v for k, v in _read_prefixed(path, PREFIX).items()}
    check_constants(state, cfg, str(path))
    network = build_network(cfg)
    load_state_dict_strict(network, convert(state), dtype=torch.float32, device="cpu", source=str(path))
    network.features.drop_unread_layers()
    return network


def load_query(folder: str | Path) -> QueryEncoder:
    """A query-transformer-only checkpoint (`query_config.json`, `query.safetensors`, keys `query.*`), as
    the reference's partial-RoPE test checkpoint ships; the same key conversion as the full encoder."""
    folder = Path(folder)
    cfg = QueryConfig.from_dict(read_json(folder / QUERY_CONFIG_FILE), folder / QUERY_CONFIG_FILE)
    path = _weights(folder, QUERY_WEIGHTS_FILE)
    state = {k.removeprefix("query."): v for k, v in convert(_read_prefixed(path, "query.")).items()}
    with torch.device("meta"):
        query = QueryEncoder(cfg)
    return load_state_dict_strict(query, state, dtype=torch.float32, device="cpu", source=str(path))


def load_quantizer(codec_folder: str | Path, width: int) -> ResidualVQEncoder:
    """The encode side of the HeartCodec decoder's residual quantizer, for query vectors of `width`."""
    codec_folder = Path(codec_folder)
    cfg = HeartCodecConfig.from_json(codec_folder / CODEC_CONFIG_FILE)
    if cfg.dim != width:
        raise CheckpointMismatch(
            f"the encoder's output width {width} does not match the quantizer width {cfg.dim} of the codec "
            f"in {codec_folder}: pair each encoder with its own HeartCodec (HeartCodec-oss-encoder with "
            "HeartCodec-oss-20260123)"
        )
    wanted = lambda k: k.startswith(QUANTIZER_IN) or CODEBOOK.match(k) is not None  # noqa: E731
    state: dict[str, torch.Tensor] = {}
    for path in checkpoint_files(codec_folder):
        state |= read_safetensors(path, skip=lambda k: not wanted(k))
    books = {int(m[1]): state.pop(k) for k in list(state) if (m := CODEBOOK.match(k))}
    if sorted(books) != list(range(cfg.num_quantizers)):
        raise CheckpointMismatch(f"{codec_folder}: the quantizer needs codebooks 0..{cfg.num_quantizers - 1}")
    state = {k.removeprefix("flow_matching.vq_embed."): v for k, v in state.items()}
    state["codebooks"] = torch.cat([books[i] for i in range(cfg.num_quantizers)])  # (Q, size, codebook_dim)
    with torch.device("meta"):
        quantizer = ResidualVQEncoder(cfg.num_quantizers, cfg.codebook_size, cfg.codebook_dim, cfg.dim)
    return load_state_dict_strict(quantizer, state, dtype=torch.float32, device="cpu", source=str(codec_folder))


def load_encoder(
    encoder_folder: str | Path, codec_folder: str | Path, device: str | torch.device = "cpu"
) -> HeartCodecEncoder:
    """Load the official HeartCodec encoder and the decoder's quantizer, float32, on `device`, eval mode.

    Args:
        encoder_folder: HeartCodec-oss-encoder (encoder_config.json + encoder.safetensors).
        codec_folder: the HeartCodec decoder it pairs with (config.json + model.safetensors).
    Raises:
        ModelNotAvailable: a folder or file is missing or unreadable, or the config is unsupported.
        CheckpointMismatch: keys or shapes differ, or the codec's quantizer has another width.
    """
    network = load_network(encoder_folder)
    quantizer = load_quantizer(codec_folder, network.cfg.query.dim)
    return HeartCodecEncoder(network, quantizer).to(device).eval()
