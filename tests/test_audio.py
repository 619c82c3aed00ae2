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
