"""MuQ-MuLan (HeartCLAP) style conditioning: reference audio or a sentence -> a 512-d style vector.

Our own implementation of the official `muq` package's inference path (no muq, torchaudio or librosa):
`load_mulan` reads the three-repository checkpoint layout, `StyleEncoder` embeds audio and text with a
content-hash cache, and `scale_style` turns an embedding and a strength into what the LM's style slot
receives.
"""

from .encoder import MAX_STRENGTH, StyleEncoder, scale_style
from .loading import LoadedMulan, load_mulan

__all__ = ["MAX_STRENGTH", "LoadedMulan", "StyleEncoder", "load_mulan", "scale_style"]
