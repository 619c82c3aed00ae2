"""Renderer protocol, the style table, the espeak-ng backend and the `[style: ...]` reply format."""

from collections import Counter, defaultdict

import librosa
import numpy as np
import pytest

from parass2s_hf.audio import load_audio
from parass2s_hf.constants import QUERY_STYLES, REPLY_STYLES
from parass2s_hf.render import (
    STYLE_PROSODY,
    Renderer,
    format_reply,
    get_prosody,
    get_renderer,
    parse_reply,
    prosody_table_markdown,
)
from parass2s_hf.render.espeak import build_ssml


def test_table_covers_every_query_and_reply_style():
    assert set(STYLE_PROSODY) == set(QUERY_STYLES) | set(REPLY_STYLES)
    table = prosody_table_markdown()
    for style, p in STYLE_PROSODY.items():
        assert f"| {style} |" in table
        assert 0 <= p.pitch <= 99 and 0 <= p.pitch_range <= 99 and 80 <= p.rate <= 450 and 0 <= p.amplitude <= 200
    with pytest.raises(ValueError, match="Unknown style 'grumpy'"):
        get_prosody("grumpy")


@pytest.mark.parametrize("style", list(QUERY_STYLES) + list(REPLY_STYLES))
def test_espeak_renders_every_style(style):
    renderer = get_renderer("espeak-ng")
    assert isinstance(renderer, Renderer)
    clip = renderer.render("Could you tell me the way to the station?", style, voice_key="k1")
    assert clip.sampling_rate == 16000 and clip.array.dtype == np.float32
    assert 0.8 < clip.duration < 8 and not clip.is_silent
    # deterministic: the same call gives the same samples and voice
    again = renderer.render("Could you tell me the way to the station?", style, voice_key="k1")
    np.testing.assert_array_equal(clip.array, again.array)


def test_voices_follow_pools_and_pair_keys():
    r = get_renderer("espeak-ng")
    # both styles of an emotion pair share the speaker; gender styles draw from their own pools
    assert r.voice("happy", "pair-3") == r.voice("sad", "pair-3")
    assert "+m" in r.voice("male", "pair-3") and "+f" in r.voice("female", "pair-3")
    assert len({r.voice("neutral", f"k{i}") for i in range(40)}) > 5


def test_renderer_errors():
    known = "\\['espeak-ng', 'openai-speech', 'transformers'\\]"
    with pytest.raises(ValueError, match=f"Unknown renderer 'festival'; available renderers: {known}"):
        get_renderer("festival")
    with pytest.raises(ValueError, match="empty text"):
        get_renderer("espeak-ng").render("  ", "happy")


def test_ssml_escapes_and_marks_words():
    ssml = build_ssml("Tom & Jerry <3 everything", "strong", "+40%")
    assert "&amp;" in ssml and "&lt;3" in ssml
    assert '<emphasis level="strong">everything</emphasis>' in ssml
    assert ssml.endswith('<prosody pitch="+40%"><emphasis level="strong">everything</emphasis></prosody></speak>')


def _measure(row):
    """Median F0 (yin, voiced frames) and active speech duration of a benchmark row."""
    audio = load_audio(row["audio"]).array
    f0 = librosa.yin(audio, fmin=60, fmax=500, sr=16000)
    active = sum(end - start for start, end in librosa.effects.split(audio, top_db=35)) / 16000
    return float(np.median(f0)), active


def test_contrasting_styles_of_each_sample_pair_differ_measurably(sample_test):
    """For every pair of the `sample` config: median F0 or speaking rate (same words, so rate ~ 1 / active
    duration) differ by at least 10%, and they move the way the style table says."""
    pairs = defaultdict(dict)
    for row in sample_test:
        pairs[row["pair_id"]][row["style"]] = (row["dimension"], _measure(row))
    assert len(pairs) == 24
    for pair_id, styles in pairs.items():
        (a, (dim, (f0_a, dur_a))), (b, (_, (f0_b, dur_b))) = styles.items()
        f0_ratio, rate_ratio = f0_b / f0_a, dur_a / dur_b
        assert max(abs(np.log(f0_ratio)), abs(np.log(rate_ratio))) >= np.log(1.10), (
            f"{pair_id}: {a} vs {b} differ too little (F0 x{f0_ratio:.2f}, rate x{rate_ratio:.2f})")
        pa, pb = get_prosody(a), get_prosody(b)
        if abs(pb.rate - pa.rate) >= 20:
            assert np.sign(rate_ratio - 1) == np.sign(pb.rate - pa.rate), f"{pair_id}: rate of {a} vs {b}"
        if dim in ("age", "gender") or (dim == "emotion" and abs(pb.pitch - pa.pitch) >= 15):
            assert np.sign(f0_ratio - 1) == np.sign(pb.pitch - pa.pitch + (50 if b in ("child", "female") else 0)), (
                f"{pair_id}: F0 of {a} ({f0_a:.0f} Hz) vs {b} ({f0_b:.0f} Hz)")
    by_style = defaultdict(list)
    for styles in pairs.values():
        for style, (_, (f0, _)) in styles.items():
            by_style[style].append(f0)
    assert min(by_style["child"]) > 1.4 * max(by_style["adult"])
    assert min(by_style["female"]) > 1.4 * max(by_style["male"])


def test_parse_and_format_reply():
    stats = Counter()
    assert parse_reply("[style: sympathetic] I'm sorry to hear that.", stats) == ("sympathetic", "I'm sorry to hear that.")
    assert parse_reply("  [Style:Warm]Hello there ", stats) == ("warm", "Hello there")
    assert parse_reply("Sure thing.", stats) == ("neutral", "Sure thing.")
    assert parse_reply("[style: grumpy] Fine.", stats) == ("neutral", "Fine.")
    assert parse_reply("", stats) == ("neutral", "")
    assert stats == Counter(ok=2, missing_tag=2, unknown_style=1)
    assert format_reply("gentle", " Let's ask a grown-up. ") == "[style: gentle] Let's ask a grown-up."
    assert parse_reply(format_reply("firm", "No.")) == ("firm", "No.")
    with pytest.raises(ValueError, match="Unknown reply style 'happy'"):
        format_reply("happy", "x")
    with pytest.raises(TypeError):
        parse_reply(None)
