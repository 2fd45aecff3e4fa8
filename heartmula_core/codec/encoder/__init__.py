"""HeartCodec encoding: a recording in, HeartMuLa tokens out (the official HeartCodec-oss-encoder).

Our own implementation of the official tokenize path: `resample` (sinc-Hann resamplers), `musicfm`
(MuEncoder, on the MuQ modules of `style/`), `whisper_mel` and `features` (transformers' Whisper and WavLM
encoders), `query` (the query transformer), the decoder's quantizer (`codec/rvq.py`), `chunks` (the
29.76 s chunking and frame rule), `model` (`HeartCodecEncoder.tokenize`) and `checkpoint` (loading).
"""

from .checkpoint import load_encoder
from .config import EncoderConfig
from .model import HeartCodecEncoder

__all__ = ["EncoderConfig", "HeartCodecEncoder", "load_encoder"]
