"""Style -> prosody: the one documented table every renderer reads.

Each of the 12 query styles and the 12 reply styles maps to a `Prosody`: a voice (a fixed pool for the
styles that are a property of the speaker, age and gender; the speaker's own voice for the others), base
pitch, pitch range, speaking rate, loudness, and SSML emphasis and end-of-utterance pitch movement. The
values are espeak-ng's scales; other backends translate them (a TTS with style instructions reads
`description`).

The table, rendered: `python -c "from parass2s_hf.render import prosody_table_markdown as t; print(t())"`;
it is also in the dataset card, generated from `STYLE_PROSODY`, so the two cannot drift.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..constants import QUERY_STYLES, REPLY_STYLES


@dataclass(frozen=True)
class Prosody:
    """How one style is spoken.

    Attributes:
        voice (`str`): `"speaker"` keeps the speaker's voice (chosen per pair, so both styles of a pair share it);
            otherwise the name of a pool in `VOICE_POOLS` that the voice is drawn from.
        pitch (`int`): base pitch, 0-99 (espeak-ng's scale, default 50).
        pitch_range (`int`): pitch variation, 0-99 (0 is monotone, default 50).
        rate (`int`): speaking rate in words per minute (default 175).
        amplitude (`int`): loudness, 0-200 (default 100).
        emphasis (`str` or `None`): SSML `<emphasis level>` put on the utterance's longest word, the likeliest
            carrier of stress (`"moderate"` or `"strong"`).
        final_pitch (`str` or `None`): SSML `<prosody pitch>` of the last word: `"+40%"` rises, `"-20%"` falls.
        description (`str`): the style in words, for instructable TTS backends and documentation.
    """

    voice: str
    pitch: int
    pitch_range: int
    rate: int
    amplitude: int
    emphasis: str | None
    final_pitch: str | None
    description: str


# espeak-ng variants measured at pitch 50 on one sentence (median F0, yin): m1-m7 92-104 Hz, f1-f5 176-210 Hz;
# at pitch 95 the f-variants reach 290-390 Hz, the range of a child's voice. espeak-ng has no child voice:
# the "child" pool is high-pitched variants (their own pitch range 200-300 Hz) driven high, which is a pitch contrast,
# not a real child. No voice sits in two pools: an age item's child and adult speakers never share a voice.
VOICE_POOLS: dict[str, tuple[str, ...]] = {
    "male": ("en-us+m1", "en-us+m2", "en-us+m3", "en-us+m4", "en-us+m5", "en-us+m6", "en-us+m7"),
    "female": ("en-us+f1", "en-us+f2", "en-us+f3", "en-us+f5"),
    "child": ("en-us+Annie", "en-us+belinda", "en-us+anika", "en-us+Andrea"),
}
VOICE_POOLS["adult"] = VOICE_POOLS["male"] + VOICE_POOLS["female"]
VOICE_POOLS["speaker"] = VOICE_POOLS["adult"]

STYLE_PROSODY: dict[str, Prosody] = {
    # emotion
    "happy": Prosody("speaker", 68, 80, 190, 120, None, None, "happy: bright, lively, upbeat"),
    "surprised": Prosody("speaker", 80, 99, 165, 130, "strong", "+40%", "surprised: high, wide pitch, rising end"),
    "sad": Prosody("speaker", 28, 12, 120, 70, None, "-15%", "sad: low, flat, slow and quiet"),
    "angry": Prosody("speaker", 42, 75, 205, 180, "strong", None, "angry: loud, fast, hard stress"),
    "fear": Prosody("speaker", 74, 35, 225, 85, None, None, "fearful: high, hurried, narrow and breathy"),
    "disgust": Prosody("speaker", 30, 55, 140, 110, "moderate", "-20%", "disgusted: low, slow, falling"),
    # sarcasm
    "sincere": Prosody("speaker", 55, 60, 175, 110, None, None, "sincere: warm, even, natural"),
    "sarcastic": Prosody("speaker", 38, 99, 125, 120, "strong", "-25%",
                         "sarcastic: slow, drawn out, exaggerated pitch, stressed, flat falling end"),
    # age
    "adult": Prosody("adult", 45, 50, 165, 100, None, None, "adult speaker: mid pitch, measured pace"),
    "child": Prosody("child", 92, 80, 185, 100, None, None, "child speaker: very high pitch, lively"),
    # gender
    "male": Prosody("male", 45, 50, 165, 100, None, None, "male speaker: low voice"),
    "female": Prosody("female", 55, 60, 170, 100, None, None, "female speaker: higher voice"),
    # reply styles (the responder keeps one voice; only the manner changes)
    "neutral": Prosody("speaker", 50, 50, 175, 100, None, None, "neutral: plain, even delivery"),
    "warm": Prosody("speaker", 52, 60, 160, 100, None, None, "warm: friendly, soft, unhurried"),
    "cheerful": Prosody("speaker", 65, 80, 190, 115, None, None, "cheerful: bright and upbeat"),
    "excited": Prosody("speaker", 75, 95, 210, 130, "strong", "+20%", "excited: high, fast, energetic"),
    "calm": Prosody("speaker", 45, 30, 150, 90, None, None, "calm: steady, slow, even"),
    "sympathetic": Prosody("speaker", 42, 35, 140, 85, None, "-10%", "sympathetic: soft, low, slow, caring"),
    "concerned": Prosody("speaker", 48, 45, 155, 95, "moderate", None, "concerned: attentive, careful"),
    "serious": Prosody("speaker", 40, 25, 160, 105, None, None, "serious: low, level, deliberate"),
    "playful": Prosody("speaker", 62, 90, 185, 110, "moderate", "+20%", "playful: lilting, teasing, light"),
    "apologetic": Prosody("speaker", 44, 30, 145, 80, None, "-10%", "apologetic: soft, lowered, hesitant"),
    "gentle": Prosody("speaker", 58, 55, 140, 85, None, None, "gentle: soft, slow, simple, child-directed"),
    "firm": Prosody("speaker", 40, 40, 165, 130, "moderate", None, "firm: clear, loud, steady, no-nonsense"),
}
assert set(STYLE_PROSODY) == set(QUERY_STYLES) | set(REPLY_STYLES)


def get_prosody(style: str) -> Prosody:
    """The `Prosody` of a query or reply style; `ValueError` naming the valid styles otherwise."""
    try:
        return STYLE_PROSODY[style]
    except KeyError:
        raise ValueError(
            f"Unknown style {style!r}. Query styles: {list(QUERY_STYLES)}; reply styles: {list(REPLY_STYLES)}."
        ) from None


def choose_voice(style: str, key: str) -> str:
    """A voice for `style` drawn from its pool, stable for a given `key` (e.g. a pair id).

    The draw uses a hash, not Python's salted `hash()`, so a rerun renders the same voices.
    """
    pool = VOICE_POOLS[get_prosody(style).voice]
    digest = hashlib.sha256(f"{get_prosody(style).voice}:{key}".encode()).digest()
    return pool[int.from_bytes(digest[:4], "big") % len(pool)]


def prosody_table_markdown() -> str:
    """The style table as Markdown, for the dataset card and the docs."""
    rows = ["| style | voice | pitch (0-99) | range (0-99) | rate (wpm) | amplitude (0-200) | SSML | description |",
            "|---|---|---|---|---|---|---|---|"]
    for style, p in STYLE_PROSODY.items():
        voice = "speaker's own" if p.voice == "speaker" else f"{p.voice} pool: {', '.join(VOICE_POOLS[p.voice])}"
        ssml = ", ".join(x for x in (p.emphasis and f"emphasis {p.emphasis}",
                                     p.final_pitch and f"last word pitch {p.final_pitch}") if x) or "-"
        rows.append(f"| {style} | {voice} | {p.pitch} | {p.pitch_range} | {p.rate} | {p.amplitude} | {ssml} | "
                    f"{p.description} |")
    return "\n".join(rows)


def voice_split_markdown(split_voices: dict[str, list[str]]) -> str:
    """The test/train voice split (`render.voice_split.VoicePlan.split_voices`) as Markdown, for the style table's
    readers: which voices each split is spoken in, by pool."""
    rows = ["| pool | test voices | train voices |", "|---|---|---|"]
    for pool in ("male", "female", "child"):
        cells = [", ".join(v for v in VOICE_POOLS[pool] if v in split_voices.get(split, ())) or "-"
                 for split in ("test", "train")]
        rows.append(f"| {pool} | {cells[0]} | {cells[1]} |")
    shared = split_voices.get("shared") or []
    note = ("No voice is in both splits: a system trained on the train split never hears a test voice. Emotion and "
            "sarcasm pairs keep one speaker for both styles, drawn from the adult (male and female) voices of the "
            "pair's split; age and gender items draw each style's speaker from its own pool.")
    if shared:
        note += f" Voices that could not be split (a pool of one): {', '.join(shared)}."
    return "\n".join(rows) + "\n\n" + note
