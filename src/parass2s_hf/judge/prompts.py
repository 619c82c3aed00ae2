"""Prompts of the judge: the rubric (from the paper), the perception questions and the end-to-end question.

The paper does not publish its prompts; these follow its rubric levels. `PROMPT_VERSION` is part of
`JudgeConfig.fingerprint()`: change it whenever a prompt changes, so cached scores are not reused.
"""

from __future__ import annotations

from ..constants import QUERY_STYLES, STYLES

PROMPT_VERSION = "2026-11-28.1"

RUBRIC = """\
Score how well the spoken response fits the spoken query, in content AND in speaking style, on this scale:
5 = the speaker's cue (emotion, sarcasm, age or gender) is recognised and the reply fits it in content and in tone
    (empathy for sadness, thanks for sincere praise, a witty or sympathetic answer to sarcasm, child-safe wording for
    a child, advice that fits the speaker);
4 = the content handles the cue, but the voice stays neutral or does not match;
3 = the cue is noticed, but the reply is generic or mechanical;
2 = the cue is misread or only half handled;
1 = the cue is handled wrongly (reverse empathy, condescension, sarcasm taken as praise, advice for the wrong speaker),
    or the response is empty or unrelated."""

JSON_INSTRUCTION = (
    'Answer with a JSON object only: {"content_score": <1-5>, "style_score": <1-5>, "score": <1-5>, '
    '"rationale": "<one or two sentences>"}. "score" is your overall judgement on the scale above; content_score '
    "applies the same scale to what is said, style_score to how it is said."
)
STRICT_RETRY = (
    "Your previous answer could not be read. Reply with exactly one JSON object and nothing else, for example "
    '{"content_score": 4, "style_score": 3, "score": 4, "rationale": "..."}.'
)


def style_choices(dimension: str | None) -> tuple[str, ...]:
    return STYLES[dimension] if dimension else QUERY_STYLES


def rubric_messages(*, query_text: str, query_style: str, dimension: str | None, response_text: str,
                    response_tone: str, requirement: str | None, retry: bool = False) -> list[dict]:
    """Chat messages for the rubric LLM of the multi-stage judge."""
    lines = [
        f"Spoken query (transcript): {query_text or '(no words recognised)'}",
        f"How the query was spoken ({dimension or 'style'}): {query_style}",
    ]
    if requirement:
        lines.append(f"What a fitting reply does for this query and style: {requirement}")
    lines += [
        f"Spoken response (transcript): {response_text or '(no words recognised)'}",
        f"How the response sounds (tone, from listening to the voice only): {response_tone or '(not available)'}",
    ]
    user = "\n".join(lines) + "\n\n" + JSON_INSTRUCTION + ("\n\n" + STRICT_RETRY if retry else "")
    return [{"role": "system", "content": "You are a careful judge of spoken dialogue.\n\n" + RUBRIC},
            {"role": "user", "content": user}]


AUDIO_PART = {"type": "audio", "audio_url": "attached"}
"""Where a clip goes in a conversation. The audio itself is passed to the processor; the `audio_url` key is there
because the chat template shipped with Qwen/Qwen2-Audio-7B-Instruct places the audio placeholder only for parts
holding an `audio` or `audio_url` key (transformers' default template also accepts `type: audio`). Templates render
it only: with `tokenize=False` nothing is fetched."""


def tone_conversation() -> list[dict]:
    """The audio LLM describes how the response sounds, ignoring its words."""
    return [{"role": "user", "content": [
        AUDIO_PART,
        {"type": "text", "text": "Ignore the words. Describe only how the speaker sounds: emotion, energy, pitch, "
                                 "pace and attitude, in one sentence."},
    ]}]


def style_conversation(dimension: str | None) -> list[dict]:
    """The audio LLM picks the query's style from the dimension's closed list."""
    choices = ", ".join(style_choices(dimension))
    return [{"role": "user", "content": [
        AUDIO_PART,
        {"type": "text", "text": f"Listen to how this is said, not to the words. Which one fits the speaker best: "
                                 f"{choices}? Answer with one word from the list."},
    ]}]


def end2end_conversation(*, dimension: str | None, requirement: str | None, retry: bool = False) -> list[dict]:
    """One audio LLM hears the query (first clip) and the response (second clip) and scores."""
    cue = f" Pay attention to the query speaker's {dimension}." if dimension else ""
    need = f"\nWhat a fitting reply does: {requirement}" if requirement else ""
    text = (f"The first audio is a user's spoken query; the second is a spoken response to it.{cue}{need}\n\n{RUBRIC}"
            f"\n\n{JSON_INSTRUCTION}" + ("\n\n" + STRICT_RETRY if retry else ""))
    return [{"role": "user", "content": [AUDIO_PART, AUDIO_PART, {"type": "text", "text": text}]}]


def reward_conversation(*, dimension: str | None, requirement: str | None) -> list[dict]:
    """The reward model's prompt: the answer is the next token, one digit."""
    cue = f" Pay attention to the query speaker's {dimension}." if dimension else ""
    need = f"\nWhat a fitting reply does: {requirement}" if requirement else ""
    text = (f"The first audio is a user's spoken query; the second is a spoken response to it.{cue}{need}\n\n{RUBRIC}"
            "\n\nAnswer with a single digit from 1 to 5.")
    return [{"role": "user", "content": [AUDIO_PART, AUDIO_PART, {"type": "text", "text": text}]}]
