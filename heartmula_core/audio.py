"""Audio in and out: read, downmix, resample and write WAV, FLAC, OGG (Vorbis) and MP3.

Arrays are always float32 `[channels, samples]` (the layout the codec produces and torch expects);
soundfile and soxr want `[samples, channels]`, so the transposes happen here and nowhere else.

Reading turns every libsndfile failure (empty, truncated, corrupt, unknown format) into one
`InvalidRequest` line naming the file. Writing never leaves a clipped or half-written file: a peak above
full scale is scaled down (and reported), and the file is written next to its destination under a
temporary name, then moved into place with `os.replace`.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import InvalidRequest

log = logging.getLogger(__name__)

CODEC_SAMPLE_RATE = 48_000
"""HeartCodec's output rate (stereo)."""
STYLE_SAMPLE_RATE = 24_000
"""The rate the MuQ-MuLan style encoder reads."""
WHISPER_SAMPLE_RATE = 16_000
"""The rate Whisper (HeartTranscriptor) reads."""

PEAK_CEILING = 10 ** (-0.1 / 20)
"""Where a too-loud signal is scaled to: -0.1 dBFS, just under full scale, so 16/24-bit PCM and lossy
encoders (whose reconstruction overshoots a little) do not clip."""


@dataclass(frozen=True)
class _Container:
    format: str
    subtype: str


# Extension -> (libsndfile container, encoding). 24-bit PCM keeps the codec's float output well below
# audible quantisation while halving the size of float WAV; lossy formats use libsndfile's defaults.
CONTAINERS: dict[str, _Container] = {
    "wav": _Container("WAV", "PCM_24"),
    "flac": _Container("FLAC", "PCM_24"),
    "ogg": _Container("OGG", "VORBIS"),
    "mp3": _Container("MP3", "MPEG_LAYER_III"),
}
SUPPORTED_EXTENSIONS = tuple(f".{ext}" for ext in CONTAINERS)


@dataclass(frozen=True)
class WriteReport:
    """What `write_audio` / `encode_audio_bytes` did.

    `gain` is 1.0 unless the input peaked above full scale, in which case the whole signal was multiplied
    by `gain` (< 1) so that its peak became `PEAK_CEILING`.
    """

    path: Path | None
    format: str
    sample_rate: int
    channels: int
    samples: int
    peak: float
    gain: float

    @property
    def scaled(self) -> bool:
        return self.gain != 1.0

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate


# ---------------------------------------------------------------------------------------------- reading


def read_audio(
    path: str | os.PathLike[str],
    *,
    max_seconds: float | None = None,
    max_bytes: int | None = None,
) -> tuple[np.ndarray, int]:
    """Read an audio file (WAV, FLAC, OGG, MP3 and anything else libsndfile reads).

    Args:
        path: the file.
        max_seconds: refuse files longer than this (checked from the header, before decoding).
        max_bytes: refuse files larger than this on disk.

    Returns:
        `(audio, sample_rate)`, audio float32 `[channels, samples]` in [-1, 1] (for integer formats).

    Raises:
        InvalidRequest: missing, empty, unreadable, corrupt or truncated file, no samples, or over a cap.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidRequest(f"{path}: no such audio file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidRequest(f"{path}: the file is empty")
    if max_bytes is not None and size > max_bytes:
        raise InvalidRequest(f"{path}: {size / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.1f} MB limit")
    try:
        with sf.SoundFile(path) as f:
            rate = int(f.samplerate)
            if max_seconds is not None and f.frames / rate > max_seconds:
                raise InvalidRequest(
                    f"{path}: {f.frames / rate:.1f} s of audio is longer than the {max_seconds:g} s limit"
                )
            # soundfile reads no more than the header's frame count, the length just checked.
            data = f.read(dtype="float32", always_2d=True)  # (samples, channels)
    except sf.LibsndfileError as exc:
        raise InvalidRequest(f"{path}: not a readable audio file ({_libsndfile_reason(exc)})") from None
    except (RuntimeError, sf.SoundFileError) as exc:  # soundfile's own checks (unknown format...)
        raise InvalidRequest(f"{path}: not a readable audio file ({exc})") from None
    if data.shape[0] == 0:
        raise InvalidRequest(f"{path}: the file contains no audio samples")
    if not np.isfinite(data).all():
        raise InvalidRequest(f"{path}: the file contains invalid (NaN or infinite) samples")
    return np.ascontiguousarray(data.T), rate  # (channels, samples)


def _libsndfile_reason(exc: sf.LibsndfileError) -> str:
    """libsndfile's message without the "Error opening 'path':" prefix we already print."""
    text = getattr(exc, "error_string", None) or str(exc)
    return text.strip().rstrip(".")


# --------------------------------------------------------------------------------- channels and rates


def _as_channels_first(audio: np.ndarray) -> np.ndarray:
    """Accept `[samples]` or `[channels, samples]`; return float32 `[channels, samples]`.

    Integer PCM (int16 from a browser upload, int32...) is scaled to [-1, 1] by its type's full scale.
    """
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio.astype(np.float32) / np.float32(-np.iinfo(audio.dtype).min)
    audio = audio.astype(np.float32, copy=False)
    if audio.ndim == 1:
        return audio[None, :]  # (1, samples)
    if audio.ndim != 2:
        raise InvalidRequest(f"audio must be [samples] or [channels, samples], got shape {tuple(audio.shape)}")
    return audio


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Downmix by averaging channels: `[channels, samples]` (or `[samples]`) → float32 `[samples]`."""
    return _as_channels_first(audio).mean(axis=0, dtype=np.float32)


def resample(audio: np.ndarray, from_rate: int, to_rate: int, quality: str = "HQ") -> np.ndarray:
    """Resample with soxr, every channel at once.

    Args:
        audio: float32 `[samples]` or `[channels, samples]`.
        from_rate, to_rate: sample rates in Hz.
        quality: soxr quality ("QQ", "LQ", "MQ", "HQ", "VHQ").

    Returns:
        float32 in the same layout, `round(samples * to_rate / from_rate)` samples long.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise InvalidRequest(f"sample rates must be positive, got {from_rate} → {to_rate}")
    one_d = np.ndim(audio) == 1
    audio = _as_channels_first(audio)
    if from_rate != to_rate:
        # soxr reads (samples, channels); it returns a fresh C-contiguous array.
        out = soxr.resample(np.ascontiguousarray(audio.T), from_rate, to_rate, quality=quality)
        audio = np.ascontiguousarray(out.T, dtype=np.float32)  # (channels, samples)
    return audio[0] if one_d else audio


def load_for_model(path: str | os.PathLike[str], rate: int, mono: bool = True, **read_kwargs) -> np.ndarray:
    """Read a file for a model: downmix (when `mono`) then resample to `rate`.

    Returns:
        float32 `[samples]` when `mono`, else `[channels, samples]`.
    `read_kwargs` go to `read_audio` (`max_seconds`, `max_bytes`).
    """
    audio, file_rate = read_audio(path, **read_kwargs)
    if mono:
        audio = to_mono(audio)  # downmix first: resampling one channel is cheaper than two
    return resample(audio, file_rate, rate)


# ---------------------------------------------------------------------------------------------- writing


def _container_for(fmt: str) -> _Container:
    key = fmt.lower().lstrip(".")
    if key not in CONTAINERS:
        raise InvalidRequest(f"unknown audio format {fmt!r}: use one of {', '.join(SUPPORTED_EXTENSIONS)}")
    return CONTAINERS[key]


def _safe_level(audio: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Scale down anything that would clip. Returns `(audio, peak_before, gain)`."""
    if audio.shape[-1] == 0:
        raise InvalidRequest("there is no audio to write (0 samples)")
    if not np.isfinite(audio).all():
        raise InvalidRequest("the audio contains NaN or infinite samples; refusing to write it")
    peak = float(np.abs(audio).max())
    if peak <= 1.0:
        return audio, peak, 1.0
    gain = PEAK_CEILING / peak
    return audio * np.float32(gain), peak, gain


def _encode(
    target: str | io.BytesIO, audio: np.ndarray, sample_rate: int, container: _Container, title: str | None
) -> None:
    try:
        with sf.SoundFile(
            target,
            "w",
            samplerate=int(sample_rate),
            channels=audio.shape[0],
            format=container.format,
            subtype=container.subtype,
        ) as f:
            if title:
                f.title = title  # set before the samples: some containers put tags in the header
            f.write(np.ascontiguousarray(audio.T))  # (samples, channels)
    except (sf.LibsndfileError, sf.SoundFileError, RuntimeError) as exc:
        raise InvalidRequest(
            f"cannot encode {audio.shape[0]}-channel {sample_rate} Hz audio as {container.format}: {exc}"
        ) from None


def _prepare(audio: np.ndarray, sample_rate: int, fmt: str) -> tuple[np.ndarray, _Container, float, float]:
    container = _container_for(fmt)
    if sample_rate <= 0:
        raise InvalidRequest(f"sample rate must be positive, got {sample_rate}")
    audio, peak, gain = _safe_level(_as_channels_first(audio))
    if gain != 1.0:
        log.warning("audio peaked at %.3f (above full scale); scaled by %.3f so it does not clip", peak, gain)
    return audio, container, peak, gain


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    *,
    title: str | None = None,
) -> WriteReport:
    """Write audio atomically; the format comes from the extension (.wav, .flac, .ogg, .mp3).

    Args:
        path: destination; its folder must exist. An existing file is replaced only once the new one is
            complete.
        audio: float32 `[channels, samples]` (or `[samples]` for mono), nominally in [-1, 1].
        sample_rate: in Hz.
        title: stored as the file's title tag (all four formats carry one).

    Returns:
        A `WriteReport`; `report.scaled` says whether the signal had to be turned down to avoid clipping.

    Raises:
        InvalidRequest: unknown extension, missing folder, empty or non-finite audio, or a rate the
            format cannot encode. Nothing is left on disk in that case.
    """
    path = Path(path)
    audio, container, peak, gain = _prepare(audio, sample_rate, path.suffix)
    folder = path.parent
    if not folder.is_dir():
        raise InvalidRequest(f"{path}: the folder {folder} does not exist")
    # A unique hidden name in the same folder (so os.replace is atomic), created by libsndfile itself so
    # the file gets the user's normal permissions (mkstemp would make it private).
    tmp_name = str(folder / f".{path.stem}.{uuid.uuid4().hex[:12]}.part{path.suffix}")
    try:
        _encode(tmp_name, audio, sample_rate, container, title)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return WriteReport(path, container.format, int(sample_rate), audio.shape[0], audio.shape[1], peak, gain)


def encode_audio_bytes(
    audio: np.ndarray, sample_rate: int, fmt: str, *, title: str | None = None
) -> tuple[bytes, WriteReport]:
    """Encode audio in memory (for downloads). `fmt` is "wav", "flac", "ogg" or "mp3".

    Returns:
        `(file_bytes, report)` with the same clipping protection as `write_audio`.
    """
    audio, container, peak, gain = _prepare(audio, sample_rate, fmt)
    buffer = io.BytesIO()
    _encode(buffer, audio, sample_rate, container, title)
    report = WriteReport(None, container.format, int(sample_rate), audio.shape[0], audio.shape[1], peak, gain)
    return buffer.getvalue(), report
