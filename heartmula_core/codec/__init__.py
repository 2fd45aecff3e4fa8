"""HeartCodec decoding: LM codes -> 48 kHz stereo audio. See `decoding.py` for the API."""

from .checkpoint import load_heartcodec
from .config import HeartCodecConfig
from .decoding import decode, decode_windows
from .heartcodec import HeartCodec
from .stream import DecodedWindow

__all__ = ["DecodedWindow", "HeartCodec", "HeartCodecConfig", "decode", "decode_windows", "load_heartcodec"]
