"""HeartCodec decoding: LM codes -> 48 kHz stereo audio. See `heartcodec.py` for the API."""

from .checkpoint import load_heartcodec
from .config import HeartCodecConfig
from .heartcodec import DecodedWindow, HeartCodec

__all__ = ["DecodedWindow", "HeartCodec", "HeartCodecConfig", "load_heartcodec"]
