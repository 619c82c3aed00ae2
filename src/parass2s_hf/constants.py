"""Constants shared by every part of parass2s_hf (docs/architecture.md, "Contracts between the parts")."""

SAMPLING_RATE = 16_000
"""Sampling rate of every waveform that leaves the audio door, in Hz."""

DIMENSIONS = ("emotion", "sarcasm", "age", "gender")
"""The four paralinguistic dimensions of ParaS2SBench."""

STYLES = {
    "emotion": ("happy", "surprised", "sad", "angry", "fear", "disgust"),
    "sarcasm": ("sincere", "sarcastic"),
    "age": ("adult", "child"),
    "gender": ("male", "female"),
}
"""Query styles per dimension (12 in all)."""

QUERY_STYLES = tuple(style for dim in DIMENSIONS for style in STYLES[dim])

STYLE_TO_DIMENSION = {style: dim for dim in DIMENSIONS for style in STYLES[dim]}

REPLY_STYLES = (
    "neutral",
    "warm",
    "cheerful",
    "excited",
    "calm",
    "sympathetic",
    "concerned",
    "serious",
    "playful",
    "apologetic",
    "gentle",
    "firm",
)
"""Closed vocabulary of reply speaking styles (reference replies, topline, SFT targets, RL completions)."""

SPLITS = ("test", "train")

SCORE_MIN, SCORE_MAX = 1, 5
"""The judge's rubric scale."""
