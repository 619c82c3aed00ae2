"""The audio door: conversions, flags and one AudioError per kind of bad input."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tone

from parass2s_hf.audio import AudioError, load_audio


def test_file_is_resampled_to_16k_mono_float32(tmp_path):
    stereo = np.stack([tone(0.5, 300, 44100), tone(0.5, 300, 44100)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44100)
    clip = load_audio(str(path))
    assert clip.sampling_rate == 16000 and clip.original_sampling_rate == 44100
    assert clip.array.dtype == np.float32 and clip.array.ndim == 1
    assert abs(clip.duration - 0.5) < 0.01
    assert clip.flags == [] and clip.source == str(path)


def test_arrays_dicts_bytes_tensors_and_int_pcm():
    x = tone(0.25, 200, 8000)
    assert load_audio(x, 8000).array.shape == (4000,)
    assert load_audio({"array": x, "sampling_rate": 8000}).array.shape == (4000,)
    assert load_audio(torch.from_numpy(x), 8000).array.shape == (4000,)
    pcm = (x * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio(pcm, 16000).array, x, atol=1e-3)
    assert load_audio(np.stack([x, x]), 16000).array.shape == (2000,)  # (channels, samples)
    buf = io.BytesIO()
    sf.write(buf, x, 8000, format="FLAC")
    assert load_audio(buf.getvalue()).duration == pytest.approx(0.25, abs=1e-3)
    assert load_audio({"bytes": buf.getvalue(), "path": "x.flac"}).source == "x.flac"


def test_silence_and_clipping_are_flags_then_errors_in_strict_mode():
    silent = np.zeros(16000, np.float32)
    assert load_audio(silent, 16000).flags == ["silent"]
    clipped = np.clip(tone(1.0, 200, 16000, amp=3.0), -1, 1)
    assert load_audio(clipped, 16000).is_clipped
    with pytest.raises(AudioError, match="silent"):
        load_audio(silent, 16000, strict=True)
    with pytest.raises(AudioError, match="clipped"):
        load_audio(clipped, 16000, strict=True)


@pytest.mark.parametrize(
    "audio, rate, message",
    [
        (np.zeros(0, np.float32), 16000, "empty audio"),
        (np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, "NaN or infinite"),
        (np.array([0.1, np.inf] * 100, np.float32), 16000, "NaN or infinite"),
        (np.zeros(1600, np.complex64), 16000, "wrong dtype complex64"),
        (np.array(["a", "b"]), 16000, "wrong dtype"),
        (np.zeros((2, 3, 100), np.float32), 16000, "wrong shape"),
        (np.zeros((100, 100), np.float32), 16000, "wrong shape"),
        (np.ones(16000, np.float32) * 0.1, None, "need a sampling_rate"),
        (np.ones(16000, np.float32) * 0.1, -5, "invalid sampling rate"),
        (np.ones(16000, np.float32) * 0.1, 16000.5, "invalid sampling rate"),
        ({"sampling_rate": 16000}, None, "expected a dict with 'array', 'bytes' or 'path'"),
    ],
)
def test_bad_arrays_raise_audio_error_naming_the_problem(audio, rate, message):
    with pytest.raises(AudioError, match=message) as info:
        load_audio(audio, rate, name="clip-7")
    assert str(info.value).startswith("clip-7: ")


def test_longer_than_limit():
    with pytest.raises(AudioError, match=r"3.0 s long, longer than the limit of 2 s"):
        load_audio(tone(3.0), 16000, max_seconds=2)
    assert load_audio(tone(3.0), 16000, max_seconds=None).duration == pytest.approx(3.0)


def test_bad_files_are_named(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=f"{missing}: file not found"):
        load_audio(missing)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav: empty file"):
        load_audio(empty)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    with pytest.raises(AudioError, match="corrupt.wav: unreadable or corrupted"):
        load_audio(corrupt)
    with pytest.raises(AudioError, match="is a directory"):
        load_audio(tmp_path)
    with pytest.raises(AudioError, match="<bytes>: unreadable or corrupted"):
        load_audio(b"definitely not audio")


def test_mp4_goes_through_ffmpeg(tmp_path):
    """MELD ships MP4 clips: the door decodes them through torchcodec/FFmpeg."""
    from torchcodec.encoders import AudioEncoder

    path = tmp_path / "dia1_utt0.mp4"
    AudioEncoder(torch.from_numpy(tone(1.0, 440, 44100))[None], sample_rate=44100).to_file(str(path))
    clip = load_audio(path)
    assert clip.sampling_rate == 16000 and abs(clip.duration - 1.0) < 0.1


def _wav_bytes(samples, rate=16000, format="WAV"):
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=format, subtype="PCM_16")
    return buf.getvalue()


def _data_offset(wav: bytes) -> int:
    """Where the samples of a RIFF/RF64 WAV start (just after the 'data' chunk header)."""
    return wav.index(b"data") + 8


@pytest.mark.parametrize("format", ["WAV", "WAVEX", "RF64"])
@pytest.mark.parametrize("as_path", [True, False], ids=["path", "bytes"])
def test_truncated_wav_is_an_error(tmp_path, format, as_path):
    """libsndfile shrinks a truncated WAV's frame count to what the file holds: the door reads the header itself."""
    wav = _wav_bytes(tone(2.0), format=format)
    cut = wav[: _data_offset(wav) + 200]  # 2 s = 32000 frames announced, 100 frames (200 bytes) left
    audio = cut
    if as_path:
        audio = tmp_path / "cut.wav"
        audio.write_bytes(cut)
    with pytest.raises(AudioError, match="truncated: header says 32000 frames, file holds 100"):
        load_audio(audio)
    with pytest.raises(AudioError, match="truncated"):
        load_audio(audio, strict=False, max_seconds=None)


def test_streamed_wav_without_a_data_size_still_loads():
    """A WAV written to a pipe cannot patch its sizes: 0xFFFFFFFF (FFmpeg) or 0x7FFFF000 (SoX) is no truncation."""
    wav = bytearray(_wav_bytes(tone(1.0)))
    size_at = _data_offset(wav) - 4
    for unknown in (0xFFFFFFFF, 0x7FFFF000):
        wav[size_at:size_at + 4] = unknown.to_bytes(4, "little")
        assert load_audio(bytes(wav)).duration == pytest.approx(1.0)


@pytest.mark.parametrize("as_path", [True, False], ids=["path", "bytes"])
def test_truncated_compressed_file_is_an_error(tmp_path, as_path):
    """Other formats: a decoded length shorter than the header's frame count is truncation too."""
    buf = io.BytesIO()
    sf.write(buf, tone(2.0), 16000, format="MP3")
    cut = buf.getvalue()[: len(buf.getvalue()) // 3]
    audio = cut
    if as_path:
        audio = tmp_path / "cut.mp3"
        audio.write_bytes(cut)
    with pytest.raises(AudioError, match=r"truncated: header says 32000 frames, decoded \d+"):
        load_audio(audio)


def test_float_beyond_full_scale_is_clipped_and_flagged():
    loud = tone(1.0, 200, 16000, amp=1.5)
    for rate in (16000, 8000):  # with and without resampling
        clip = load_audio(loud[: rate], rate)
        assert clip.array.max() <= 1.0 and clip.array.min() >= -1.0
        assert clip.is_clipped
    with pytest.raises(AudioError, match="clipped"):
        load_audio(loud, 16000, strict=True)


def test_resampling_overshoot_stays_in_range():
    """A full-scale square wave rings past +-1 when resampled; the door still returns samples in [-1, 1]."""
    square = np.sign(tone(1.0, 441, 44100)).astype(np.float32)
    clip = load_audio(square, 44100)
    assert clip.array.max() <= 1.0 and clip.array.min() >= -1.0


@pytest.mark.parametrize("peak", [1e38, 32767.0])
@pytest.mark.parametrize("rate", [16000, 8000])
def test_float_far_beyond_full_scale_is_not_audio(peak, rate):
    samples = tone(1.0, 200, rate) / 0.3 * peak
    with pytest.raises(AudioError, match=r"peak \S+ is not float audio in \[-1, 1\]; pass integer PCM as int16"):
        load_audio(samples, rate, name="loud")


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_low_precision_float_tensors_are_converted():
    x = tone(0.25, 200, 16000)
    for dtype in (torch.bfloat16, torch.float16):
        clip = load_audio(torch.from_numpy(x).to(dtype), 16000)
        assert clip.array.dtype == np.float32
        np.testing.assert_allclose(clip.array, x, atol=1e-2)
    with pytest.raises(AudioError, match=r"clip-7: wrong dtype torch.complex32"):
        load_audio(torch.zeros(1600, dtype=torch.complex32), 16000, name="clip-7")


def test_empty_path_is_named():
    with pytest.raises(AudioError) as info:
        load_audio("")
    assert str(info.value) == "<empty path>: the path is an empty string"


@pytest.mark.parametrize("as_path", [True, False], ids=["path", "bytes"])
def test_long_file_is_refused_before_decoding(tmp_path, monkeypatch, as_path):
    """An hour-long WAV must not be decoded (1 GB) just to be refused: the header's duration decides first."""
    noise = (np.random.default_rng(0).standard_normal(200 * 16000) * 300).astype(np.int16)
    audio = _wav_bytes(noise)
    if as_path:
        audio = tmp_path / "long.wav"
        audio.write_bytes(_wav_bytes(noise))
    decoded = []
    real_read = sf.read
    monkeypatch.setattr(sf, "read", lambda *a, **k: decoded.append(a) or real_read(*a, **k))
    with pytest.raises(AudioError, match=r"200.0 s long, longer than the limit of 120 s \(max_seconds\)"):
        load_audio(audio, max_seconds=120)
    assert decoded == []
    assert load_audio(audio, max_seconds=None).duration == pytest.approx(200.0)


def test_long_container_is_refused_before_decoding(tmp_path, monkeypatch):
    """Through FFmpeg too (MELD's MP4s, datasets' AudioDecoder): the container header's duration decides first."""
    from torchcodec.decoders import AudioDecoder
    from torchcodec.encoders import AudioEncoder

    path = tmp_path / "long.mp4"
    AudioEncoder(torch.from_numpy(tone(150.0, 300, 8000))[None], sample_rate=8000).to_file(str(path))
    decoded = []
    real_decode = AudioDecoder.get_all_samples
    monkeypatch.setattr(AudioDecoder, "get_all_samples", lambda self: decoded.append(self) or real_decode(self))
    for audio in (path, AudioDecoder(str(path))):
        with pytest.raises(AudioError, match=r"150.0 s long, longer than the limit of 120 s \(max_seconds\)"):
            load_audio(audio)
    assert decoded == []
    assert load_audio(path, max_seconds=None).duration == pytest.approx(150.0, abs=0.1)
