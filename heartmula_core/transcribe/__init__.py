"""Lyrics transcription with HeartTranscriptor (Whisper) and lyrics comparison.

`Transcriber(folder, device, dtype).transcribe(path_or_array) -> TranscriptResult`, and
`lyrics_match(asked, heard)` for "78% of your lyrics were sung".
"""

from .chunks import LyricLine, Window, join_windows, plan_windows
from .lyrics import LyricsMatch, Section, label_sections, lyrics_match, normalize_lyrics
from .transcriber import Transcriber, TranscriptResult

__all__ = [
    "LyricLine",
    "LyricsMatch",
    "Section",
    "Transcriber",
    "TranscriptResult",
    "Window",
    "join_windows",
    "label_sections",
    "lyrics_match",
    "normalize_lyrics",
    "plan_windows",
]
