"""The one audio door: every waveform in parass2s_hf enters through `load_audio`.

It reads a file, bytes, an array or a `datasets` audio value, converts it to mono float32 at 16 kHz and
validates it. What cannot be used raises `AudioError` naming the input and the problem; silence and
clipping are flags on the result (errors in strict mode), because real corpora contain some clipping and a
silent response is a system failure to be scored, not a crash.

```python
>>> from parass2s_hf.audio import load_audio
>>> clip = load_audio("query.wav")                 # any rate, any channel count
>>> clip.array.dtype, clip.sampling_rate
(dtype('float32'), 16000)
>>> load_audio(np.zeros(0), sampling_rate=16000)
AudioError: <array>: empty audio (0 samples)
```
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constants import SAMPLING_RATE

DEFAULT_MAX_SECONDS = 120.0
"""Longest clip accepted by default. A spoken query or reply is seconds long; an hour-long file is a mistake."""
SILENCE_PEAK = 10 ** (-60 / 20)
"""A clip whose peak stays below -60 dBFS is flagged silent."""
SOUND_FRAME_SECONDS = 0.01
"""Frame length of `sounding_seconds`: a frame sounds when its peak reaches the silence level (-60 dBFS)."""
CLIP_LEVEL = 0.999
CLIP_FRACTION = 1e-3
"""A clip with at least 0.1% of its samples at (or beyond) full scale is flagged clipped."""
MAX_FLOAT_PEAK = 100.0
"""Float samples peaking above this are not audio in [-1, 1] but unscaled PCM or garbage: an error, not clipping."""
MIN_SAMPLING_RATE, MAX_SAMPLING_RATE = 1_000, 384_000
MAX_CHANNELS = 8

# soundfile reads WAV/FLAC/OGG/MP3 itself; containers such as MP4 (MELD ships video) go through FFmpeg.
_FFMPEG_SUFFIXES = (".mp4", ".m4a", ".mkv", ".webm", ".aac", ".mov", ".avi", ".opus", ".wma")
# Data sizes a WAV writer leaves when it cannot seek back to patch the header (a pipe): 0 or 0xFFFFFFFF (FFmpeg,
# libsndfile), 0x7FFFF000 (SoX), and the 64-bit "unknown" of RF64. They say nothing about truncation.
_UNKNOWN_DATA_SIZES = (0, 0x7FFFF000, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
# WAVE format tags whose block align is one frame (PCM, IEEE float, A-law, mu-law), so sizes convert to frames.
_FRAME_ALIGNED_TAGS = (1, 3, 6, 7)
_MAX_RIFF_CHUNKS = 1000  # a header with more chunks before 'data' is corrupted; give up on it
# Formats whose header length is an estimate: mpg123 derives an MP3's frame count from the file size and bitrate
# when the file has no Xing/Info tag, so a valid file may decode a frame or two short of it.
_ESTIMATED_LENGTH_SLACK = {"MP3": 2 * 1152}
_ESTIMATE_MARGIN = 1.1
"""Header durations that may be estimates refuse a file before decoding only when 10% over `max_seconds`."""


class AudioError(ValueError):
    """Audio that cannot be used: the message names the input and the problem."""

    def __init__(self, source: str, problem: str):
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


@dataclass
class LoadedAudio:
    """Mono float32 audio at `sampling_rate` (16 kHz), with the flags found while loading.

    Attributes:
        array (`np.ndarray`): 1-D float32 samples in [-1, 1] (clipped values may sit at the bounds).
        sampling_rate (`int`): always `parass2s_hf.constants.SAMPLING_RATE` unless `target_rate` was given.
        source (`str`): what was loaded, for messages (a path or a short description).
        original_sampling_rate (`int`): the rate before resampling.
        flags (`list[str]`): `"silent"` and/or `"clipped"`.
    """

    array: np.ndarray
    sampling_rate: int
    source: str
    original_sampling_rate: int
    flags: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.array) / self.sampling_rate

    @property
    def sounding_seconds(self) -> float:
        """Seconds of the clip that sound (see `sounding_seconds`)."""
        return sounding_seconds(self.array, self.sampling_rate)

    @property
    def is_silent(self) -> bool:
        return "silent" in self.flags

    @property
    def is_clipped(self) -> bool:
        return "clipped" in self.flags

    def to_dict(self) -> dict[str, Any]:
        """The `{"array", "sampling_rate"}` form that `datasets.Audio` and processors accept."""
        return {"array": self.array, "sampling_rate": self.sampling_rate}

    def to_bytes(self, format: str = "FLAC") -> bytes:
        """Encode losslessly (16-bit FLAC by default) for storage in a dataset or a run folder."""
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, self.array, self.sampling_rate, format=format, subtype="PCM_16")
        return buf.getvalue()


def silence_ratio(samples: np.ndarray, sampling_rate: int) -> float | None:
    """The share of `samples` that does not sound, by `sounding_seconds`'s rule; `None` for no samples. The evaluation's
    objective signals and the GRPO reward's logs measure silence with it."""
    samples = np.asarray(samples).reshape(-1)
    if samples.size == 0:
        return None
    return max(0.0, 1.0 - sounding_seconds(samples, sampling_rate) / (samples.size / sampling_rate))


def sounding_seconds(samples: np.ndarray, sampling_rate: int, level: float = SILENCE_PEAK) -> float:
    """Seconds of `samples` in 10-ms frames whose peak reaches `level` (-60 dBFS by default): how long a clip actually
    sounds, whatever silence pads it. A 50-ms beep in 2 s of silence sounds for 0.05 s."""
    samples = np.abs(np.asarray(samples, dtype=np.float32).reshape(-1))
    frame = max(1, round(sampling_rate * SOUND_FRAME_SECONDS))
    whole = samples.size // frame * frame
    sounding = int(np.count_nonzero(samples[:whole].reshape(-1, frame).max(axis=1) >= level)) * frame if whole else 0
    tail = samples[whole:]
    if tail.size and tail.max() >= level:
        sounding += tail.size
    return sounding / sampling_rate


def load_audio(
    audio: Any,
    sampling_rate: int | None = None,
    *,
    target_rate: int = SAMPLING_RATE,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    strict: bool = False,
    name: str | None = None,
) -> LoadedAudio:
    """Read, convert to mono float32 at `target_rate`, and validate.

    Float samples beyond full scale are clipped to [-1, 1] (and flagged `"clipped"` when they are at least 0.1% of
    the clip, as samples at full scale are); float samples peaking above 100 are refused as unscaled integer PCM.
    Files and bytes are refused before decoding when their header announces more than `max_seconds`, and a file
    that holds less audio than its header announces (an interrupted copy or download) is refused as truncated.

    Args:
        audio (`str`, `os.PathLike`, `bytes`, `np.ndarray`, `torch.Tensor`, `dict` or `AudioDecoder`):
            a file path; encoded file bytes; samples (1-D, or 2-D with channels on the short axis; float, or
            int16/int32 PCM); a `datasets` value `{"array", "sampling_rate"}` or `{"path", "bytes"}`; or the
            `AudioDecoder` that `datasets` 5 returns for a decoded `Audio` column.
        sampling_rate (`int`, *optional*): rate of `audio` when it is raw samples (required then).
        target_rate (`int`, *optional*, defaults to `16000`): rate of the result.
        max_seconds (`float`, *optional*, defaults to `120.0`): longest accepted duration; `None` for no limit.
        strict (`bool`, *optional*, defaults to `False`): raise on silence and clipping instead of flagging them.
        name (`str`, *optional*): how to name the input in messages (defaults to the path, or a description).

    Returns:
        `LoadedAudio`

    Raises:
        `AudioError`: unreadable, corrupted or truncated file, empty audio, NaN/Inf, float samples far beyond
        [-1, 1], wrong dtype or shape, bad sampling rate, longer than `max_seconds`; in strict mode also silence and
        clipping.
    """
    source, samples, rate = _read(audio, sampling_rate, name, max_seconds)
    samples = _as_mono_float(samples, source)
    rate = check_rate(rate, source)
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise AudioError(source, f"contains {bad} NaN or infinite sample(s)")
    duration = samples.size / rate
    if max_seconds is not None and duration > max_seconds:
        raise AudioError(source, _too_long(duration, max_seconds))
    # Range checks come before resampling: the resampler would spread (and may overflow on) absurd values.
    peak = float(np.max(np.abs(samples)))
    if peak > MAX_FLOAT_PEAK:
        raise AudioError(
            source, f"peak {peak:.3g} is not float audio in [-1, 1]; pass integer PCM as int16/int32, or scale it"
        )
    clipped = _at_full_scale(samples)  # counted before clipping: samples beyond full scale are clipped samples
    if peak > 1.0:
        samples = np.clip(samples, -1.0, 1.0)
    if rate != target_rate:
        import librosa

        samples = librosa.resample(samples, orig_sr=rate, target_sr=target_rate).astype(np.float32)
        if samples.size == 0:
            raise AudioError(source, f"too short to resample from {rate} Hz ({duration * 1000:.2f} ms)")
        # Band-limited resampling rings past full scale next to loud steps; the result must stay in [-1, 1].
        clipped = clipped or _at_full_scale(samples)
        np.clip(samples, -1.0, 1.0, out=samples)

    flags = []
    peak = float(np.max(np.abs(samples)))
    if peak < SILENCE_PEAK:
        flags.append("silent")
    if clipped:
        flags.append("clipped")
    if strict and flags:
        detail = {"silent": f"silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS)",
                  "clipped": f"clipped (at least {CLIP_FRACTION:.1%} of samples at full scale)"}
        raise AudioError(source, " and ".join(detail[f] for f in flags) + " (strict mode)")
    return LoadedAudio(np.ascontiguousarray(samples, dtype=np.float32), target_rate, source, rate, flags)


AUDIO_RECORD_KEYS = ("path", "bytes", "samples", "sampling_rate")
"""Keys of a `pack_audio` record."""


def pack_audio(audio: Any, sampling_rate: int | None = None, *, name: str = "<audio>",
               max_seconds: float | None = DEFAULT_MAX_SECONDS) -> dict[str, Any]:
    """A plain, storable record of any input `load_audio` reads, decoding nothing that can be read later.

    What an Arrow table (an `evaluate` metric's cache) can hold: a path, encoded file bytes, or raw samples kept
    exactly (dtype, shape, NaN and all, as `.npy` bytes) with their rate. `unpack_audio` gives back what `load_audio`
    reads, so a bad clip is still found, and named, when it is loaded.

    Args:
        audio (`str`, `os.PathLike`, `bytes`, `np.ndarray`, `torch.Tensor`, `dict`, `AudioDecoder` or `LoadedAudio`):
            any input of `load_audio`. A `datasets` `AudioDecoder` is recorded as the file it decodes (its
            `{"path", "bytes"}`, as `datasets.Audio.encode_example` does): the judge resamples and downmixes itself.
            A decoder with no such file at hand (streamed from a URL, or built directly) is decoded now.
        sampling_rate (`int`, *optional*): rate of raw samples, and of `{"array"}` dicts without one; `None` leaves
            it to `unpack_audio`.
        name (`str`, *optional*, defaults to `"<audio>"`): how to name the input in errors.
        max_seconds (`float`, *optional*, defaults to `120.0`): longest clip a decoder is decoded for (header check).

    Returns:
        `dict` with the keys `AUDIO_RECORD_KEYS` (unused ones `None`).

    Raises:
        `AudioError`: the input is none of the audio forms (naming it and the forms), a rate is not an integer in Hz,
        or a decoder that has to be decoded now cannot be.
    """
    record = dict.fromkeys(AUDIO_RECORD_KEYS)
    if isinstance(audio, LoadedAudio):
        return {**record, "samples": _npy(audio.array, name), "sampling_rate": audio.sampling_rate}
    if isinstance(audio, (str, os.PathLike)):
        return {**record, "path": os.fspath(audio)}
    if isinstance(audio, (bytes, bytearray, memoryview)):
        return {**record, "bytes": bytes(audio)}
    if isinstance(audio, Mapping):
        if audio.get("array") is not None:
            rate = audio.get("sampling_rate")
            rate = _rate_or_none(sampling_rate if rate is None else rate, name)
            return {**record, "samples": _npy(_to_numpy(audio["array"], name), name), "sampling_rate": rate}
        if audio.get("bytes") or audio.get("path"):
            data = audio.get("bytes")
            return {**record, "path": audio.get("path") or None, "bytes": bytes(data) if data else None}
        raise AudioError(name, f"expected a dict with 'array', 'bytes' or 'path', got keys {sorted(audio)}")
    if hasattr(audio, "get_all_samples"):  # torchcodec AudioDecoder, as datasets 5 returns for Audio columns
        encoded = getattr(audio, "_hf_encoded", None) or {}
        if encoded.get("bytes") or (encoded.get("path") and os.path.isfile(encoded["path"])):
            return pack_audio(encoded, name=name)
        source = f"{name} {encoded['path']}" if encoded.get("path") else name
        _refuse_long_header(source, _ffmpeg_header_seconds(audio), max_seconds, estimate=True)
        try:
            decoded = audio.get_all_samples()
        except Exception as e:
            raise AudioError(source, f"could not be decoded ({type(e).__name__}: {e})") from e
        return {**record, "samples": _npy(decoded.data.numpy(), name), "sampling_rate": int(decoded.sample_rate)}
    if audio is None or np.isscalar(audio):
        raise AudioError(name, f"got {audio!r}; expected a path, encoded bytes, samples (array or tensor), a "
                               "{'array', 'sampling_rate'} or {'path', 'bytes'} dict, or a datasets AudioDecoder")
    rate = _rate_or_none(sampling_rate, name)
    return {**record, "samples": _npy(_to_numpy(audio, name), name), "sampling_rate": rate}


def unpack_audio(record: Mapping, sampling_rate: int | None = None) -> Any:
    """What `load_audio` reads from a `pack_audio` record: a `{"array", "sampling_rate"}` dict (the record's rate,
    else `sampling_rate`), the encoded bytes, or the path."""
    if record.get("samples") is not None:
        rate = record.get("sampling_rate")
        return {"array": np.load(io.BytesIO(record["samples"]), allow_pickle=False),
                "sampling_rate": sampling_rate if rate is None else rate}
    if record.get("bytes") is not None:
        return record["bytes"]
    return record.get("path")


def _rate_or_none(rate: Any, source: str) -> int | None:
    return None if rate is None else check_rate(rate, source)


def _npy(samples: np.ndarray, source: str) -> bytes:
    """`samples` as `.npy` bytes: lossless for every numeric dtype and shape, and safe to load (no pickle)."""
    buf = io.BytesIO()
    try:
        np.save(buf, np.asarray(samples), allow_pickle=False)
    except ValueError as e:  # object arrays (ragged lists, strings mixed in) would need pickle
        raise AudioError(source, f"cannot be read as an array of samples ({e}); expected numbers") from e
    return buf.getvalue()


def _too_long(duration: float, max_seconds: float) -> str:
    return f"{duration:.1f} s long, longer than the limit of {max_seconds:g} s (max_seconds)"


def _at_full_scale(samples: np.ndarray) -> bool:
    """Whether at least `CLIP_FRACTION` of `samples` (and at least one) sit at or beyond full scale."""
    return bool(np.count_nonzero(np.abs(samples) >= CLIP_LEVEL) >= max(1, CLIP_FRACTION * samples.size))


def _refuse_long_header(source: str, seconds: float | None, max_seconds: float | None, estimate: bool) -> None:
    """Refuse a file whose header announces more than `max_seconds`, before decoding it (an hour of audio is a GB
    of float32). A header duration that may be an estimate refuses only with a margin: the exact check after
    decoding still applies, so the margin never lets a long file through."""
    if max_seconds is None or seconds is None or not np.isfinite(seconds):
        return
    if seconds > max_seconds * (_ESTIMATE_MARGIN if estimate else 1.0):
        raise AudioError(source, _too_long(seconds, max_seconds))


def _read(
    audio: Any, sampling_rate: int | None, name: str | None, max_seconds: float | None = None
) -> tuple[str, np.ndarray, int]:
    if isinstance(audio, LoadedAudio):
        return name or audio.source, audio.array, audio.sampling_rate
    if isinstance(audio, (str, os.PathLike)):
        path = os.fspath(audio)
        if not path:  # os.path.exists("") is False: without this the message would be ": file not found"
            raise AudioError(name or "<empty path>", "the path is an empty string")
        return (name or path, *_read_file(path, name or path, max_seconds))
    if isinstance(audio, (bytes, bytearray, memoryview)):
        source = name or "<bytes>"
        return (source, *_decode_bytes(bytes(audio), source, max_seconds))
    if isinstance(audio, Mapping):
        if audio.get("array") is not None:
            rate = audio.get("sampling_rate", sampling_rate)
            if rate is None:
                raise AudioError(name or "<dict>", "has 'array' but no 'sampling_rate'")
            return name or audio.get("path") or "<array>", _to_numpy(audio["array"], name or "<array>"), rate
        if audio.get("bytes"):
            source = name or audio.get("path") or "<bytes>"
            return (source, *_decode_bytes(bytes(audio["bytes"]), source, max_seconds))
        if audio.get("path"):
            return _read(audio["path"], sampling_rate, name, max_seconds)
        raise AudioError(name or "<dict>", f"expected a dict with 'array', 'bytes' or 'path', got keys {sorted(audio)}")
    if hasattr(audio, "get_all_samples"):  # torchcodec AudioDecoder, as datasets 5 returns for Audio columns
        source = name or getattr(audio, "_hf_encoded", {}).get("path") or "<AudioDecoder>"
        _refuse_long_header(source, _ffmpeg_header_seconds(audio), max_seconds, estimate=True)
        try:
            decoded = audio.get_all_samples()
        except Exception as e:
            raise AudioError(source, f"could not be decoded ({type(e).__name__}: {e})") from e
        return source, decoded.data.numpy().T, int(decoded.sample_rate)
    source = name or "<array>"
    samples = _to_numpy(audio, source)
    if sampling_rate is None:
        raise AudioError(source, "raw samples need a sampling_rate argument")
    return source, samples, sampling_rate


def _to_numpy(samples: Any, source: str) -> np.ndarray:
    if hasattr(samples, "detach"):  # torch.Tensor
        tensor = samples.detach().cpu()
        if tensor.is_floating_point():
            # numpy has no bfloat16 (and float8); float32 holds every float dtype's audio values.
            tensor = tensor.float()
        try:
            return tensor.numpy()
        except TypeError as e:  # a dtype numpy cannot hold, e.g. torch.complex32 or a quantized type
            raise AudioError(
                source, f"wrong dtype {tensor.dtype}; expected float samples or int16/int32 PCM ({e})"
            ) from e
        except Exception as e:
            raise AudioError(source, f"cannot be read as an array of samples ({type(e).__name__}: {e})") from e
    try:
        return np.asarray(samples)
    except Exception as e:
        raise AudioError(source, f"cannot be read as an array of samples ({e})") from e


def _read_file(path: str, source: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    if not os.path.exists(path):
        raise AudioError(source, "file not found")
    if os.path.isdir(path):
        raise AudioError(source, "is a directory, expected an audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(source, "empty file (0 bytes)")
    if path.lower().endswith(_FFMPEG_SUFFIXES):
        return _decode_ffmpeg(path, source, max_seconds)
    return _decode_soundfile(path, source, max_seconds)


def _decode_bytes(data: bytes, source: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    return _decode_soundfile(data, source, max_seconds)


def _decode_soundfile(path_or_bytes: str | bytes, source: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Decode with libsndfile (FFmpeg when it cannot), after checking the header: truncation and duration."""
    import soundfile as sf

    what = "audio bytes" if isinstance(path_or_bytes, bytes) else "audio file"

    def opened():  # a fresh stream per call: soundfile leaves a file object wherever it stopped reading
        return io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes

    def through_ffmpeg(e: Exception) -> tuple[np.ndarray, int]:
        try:
            return _decode_ffmpeg(path_or_bytes, source, max_seconds)
        except AudioError:
            raise AudioError(source, f"unreadable or corrupted {what} ({e})") from e

    try:
        info = sf.info(opened())
    except Exception as e:  # noqa: BLE001 - libsndfile errors come in several types
        return through_ffmpeg(e)
    problem = _wav_truncation(path_or_bytes)
    if problem:
        raise AudioError(source, problem)
    # libsndfile says SF_COUNT_MAX frames when it cannot tell (an MP3 without length information).
    frames = info.frames if 0 < info.frames < 2**62 else None
    if frames is not None:
        estimate = info.format in _ESTIMATED_LENGTH_SLACK
        _refuse_long_header(source, frames / info.samplerate, max_seconds, estimate=estimate)
    try:
        samples, rate = sf.read(opened(), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001
        samples, rate = through_ffmpeg(e)
    # libsndfile adjusts a WAV's frame count to what the file holds (hence `_wav_truncation`), but for other
    # formats it reports the header's count and decodes what is there: fewer frames means a truncated file.
    short = frames is not None and samples.shape[0] < frames - _ESTIMATED_LENGTH_SLACK.get(info.format, 0)
    if short and rate == info.samplerate:
        raise AudioError(source, f"truncated: header says {frames} frames, decoded {samples.shape[0]}")
    return samples, rate


def _wav_truncation(path_or_bytes: str | bytes) -> str | None:
    """The problem with a RIFF/WAVE (or RF64) file whose `data` chunk declares more bytes than the file holds, or
    `None` (also for other formats, streamed WAVs without a size, and headers too broken to tell).

    libsndfile silently shrinks a truncated WAV's frame count to what is there, so 2 s announced and 6 ms held would
    load as 6 ms of audio: the header's declared size is read here instead.
    """
    if isinstance(path_or_bytes, bytes):
        return _riff_truncation(io.BytesIO(path_or_bytes), len(path_or_bytes))
    with open(path_or_bytes, "rb") as f:
        return _riff_truncation(f, os.fstat(f.fileno()).st_size)


def _riff_truncation(stream: Any, total: int) -> str | None:
    head = stream.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
        return None
    tag = block_align = ds64_data_size = None
    position = 12
    for _ in range(_MAX_RIFF_CHUNKS):
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8:
            return None
        chunk, size = header[:4], int.from_bytes(header[4:], "little")
        body = position + 8
        if chunk == b"ds64" and size >= 16:  # RF64: 64-bit RIFF and data sizes, the 32-bit ones say 0xFFFFFFFF
            ds64_data_size = int.from_bytes(stream.read(16)[8:16], "little")
        elif chunk == b"fmt " and size >= 16:
            fmt = stream.read(min(size, 26))
            tag = int.from_bytes(fmt[0:2], "little")
            block_align = int.from_bytes(fmt[12:14], "little")
            if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format GUID opens with the tag
                tag = int.from_bytes(fmt[24:26], "little")
        elif chunk == b"data":
            declared = ds64_data_size if size == 0xFFFFFFFF and ds64_data_size is not None else size
            held = total - body
            if declared in _UNKNOWN_DATA_SIZES or held >= declared:
                return None
            if tag in _FRAME_ALIGNED_TAGS and block_align:
                return f"truncated: header says {declared // block_align} frames, file holds {held // block_align}"
            return f"truncated: header says {declared} bytes of audio data, file holds {held}"
        position = body + size + (size & 1)  # chunks are padded to an even size
    return None


def _ffmpeg_header_seconds(decoder: Any) -> float | None:
    """Duration an FFmpeg `AudioDecoder` reads from the container header (an estimate, or `None` if unknown)."""
    seconds = getattr(getattr(decoder, "metadata", None), "duration_seconds_from_header", None)
    return float(seconds) if isinstance(seconds, (int, float)) else None


def _decode_ffmpeg(path_or_bytes: str | bytes, source: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    try:
        from torchcodec.decoders import AudioDecoder
    except Exception as e:
        raise AudioError(source, f"needs FFmpeg through torchcodec to decode, which failed to load ({e})") from e
    try:
        decoder = AudioDecoder(path_or_bytes)
    except Exception as e:
        raise AudioError(source, f"unreadable or corrupted audio ({type(e).__name__}: {e})") from e
    _refuse_long_header(source, _ffmpeg_header_seconds(decoder), max_seconds, estimate=True)
    try:
        decoded = decoder.get_all_samples()
    except Exception as e:
        raise AudioError(source, f"unreadable or corrupted audio ({type(e).__name__}: {e})") from e
    return decoded.data.numpy().T, int(decoded.sample_rate)


def _as_mono_float(samples: np.ndarray, source: str) -> np.ndarray:
    kind = samples.dtype.kind
    if kind == "f":
        samples = samples.astype(np.float32, copy=False)
    elif kind == "i" and samples.dtype.itemsize in (2, 4):
        # Integer PCM: scale to [-1, 1) by the type's full scale.
        samples = samples.astype(np.float32) / float(2 ** (8 * samples.dtype.itemsize - 1))
    else:
        raise AudioError(source, f"wrong dtype {samples.dtype}; expected float samples or int16/int32 PCM")
    if samples.size == 0:
        raise AudioError(source, f"empty audio (0 samples, shape {samples.shape})")
    if samples.ndim == 1:
        return samples
    if samples.ndim == 2:
        short = int(np.argmin(samples.shape))
        if samples.shape[short] > MAX_CHANNELS:
            raise AudioError(
                source, f"wrong shape {samples.shape}; expected (samples,) or (channels, samples) "
                f"with at most {MAX_CHANNELS} channels"
            )
        return samples.mean(axis=short, dtype=np.float32)
    raise AudioError(source, f"wrong shape {samples.shape}; expected 1-D samples or 2-D (channels, samples)")


def check_rate(rate: Any, source: str) -> int:
    """`rate` as an `int` in Hz, or `AudioError` naming `source` when it is not a whole number within the accepted
    range (`MIN_SAMPLING_RATE`-`MAX_SAMPLING_RATE`). The audio door's own check, also used by the metric."""
    if isinstance(rate, (float, np.floating)) and float(rate).is_integer():
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not (
        MIN_SAMPLING_RATE <= rate <= MAX_SAMPLING_RATE
    ):
        raise AudioError(
            source, f"invalid sampling rate {rate!r}; expected an integer in Hz between "
            f"{MIN_SAMPLING_RATE} and {MAX_SAMPLING_RATE}"
        )
    return int(rate)
