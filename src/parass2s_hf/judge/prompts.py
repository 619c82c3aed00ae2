"""Prompts of the judge: the rubric (the paper's structure: role, general rules, five levels with examples; reasons
before the score), the perception questions, the end-to-end question and the reward model's prompt.

The paper does not publish its prompts; these follow the structure of its guideline. `PROMPT_VERSION` is part of
`JudgeConfig.fingerprint()`: change it whenever a prompt changes, so cached scores are not reused.
"""

from __future__ import annotations

from ..constants import QUERY_STYLES, STYLES

PROMPT_VERSION = "2026-12-06.1"

ROLE = (
    "You are a human dialogue expert. You judge whether a spoken reply fits a spoken request: in what is said (the "
    "content) and in how it is said (the speaking style: tone, emotion, volume and speed). The request's words are "
    "neutral; how it was said (the speaker's emotion, a sarcastic or sincere tone, a child's or an adult's voice, a "
    "man's or a woman's voice) is the cue that changes what a fitting reply is."
)

GENERAL_RULES = """General rules:
- A good reply is friendly, helpful and emotionally intelligent (high EQ).
- Check the reply's voice, not only its words: its tone, emotion, volume and speed.
- Share the user's joy and comfort their sadness; answer fear, anger and disgust each for what it is.
- Be careful and safe with children: simple, gentle, age-appropriate words, and an unsafe wish is redirected kindly (a child trying to buy alcohol is told no).
- Fit advice to the speaker's gender and age where it matters: recommending items meant for another gender is very awkward.
- Detect sarcasm: a sarcastic compliment is a complaint, so do not be pleased by it; answer the frustration behind it with tact. Sincere praise deserves thanks."""

LEVELS = """Levels:
5 Perfect: the cue is recognised and the reply enhances it in content AND in tone: real empathy in a fitting voice, a high-EQ answer to sarcasm, thanks for sincere praise, advice that suits the speaker's age and gender.
4 Excellent: the content handles the cue, but the voice adds nothing: a neutral tone, otherwise right.
3 Average: the cue is considered, but the reply is not personalised, though not jarring: mechanical empathy, awkward praise, a happy or sad tone given to a neutral question.
2 Poor: the cue is poorly handled: one feeling taken for another (fear treated as sadness), a partly mismatched style, a flat reply to a sad user.
1 Very poor: the cue is handled wrongly: reverse empathy, condescension, a childish tone to an adult, sincere praise taken as criticism or sarcasm taken as sincere, a recommendation for the wrong gender; or the reply is empty or unrelated.
A voice whose tone contradicts the cue (a cheerful voice to a sad user, a playful one to an angry user) is 2 or below, however good the words."""

RUBRIC = f"{ROLE}\n\n{GENERAL_RULES}\n\n{LEVELS}"
"""The rubric: the role, the general rules and the five levels, structured as the paper's guideline (its appendix;
the text itself was not published)."""

JSON_INSTRUCTION = (
    "Give your reasons first, then the scores. Answer with one JSON object and nothing else:\n"
    '{"rationale": "<the cue, and what the reply does with it in its words and in its voice: two or three '
    'sentences>", "content_score": <1-5>, "style_score": <1-5>, "score": <1-5>}\n'
    "content_score applies the levels to what is said alone; style_score applies them to how it is said alone (a "
    "neutral voice is 3; a voice that contradicts the cue is 1 or 2); score is your overall judgement on the levels "
    "above. Each score is one integer from 1 to 5."
)
STRICT_RETRY = (
    "Your previous answer could not be read. Reply with exactly one JSON object and nothing else, for example "
    '{"rationale": "...", "content_score": 4, "style_score": 3, "score": 4}.'
)


def style_choices(dimension: str | None) -> tuple[str, ...]:
    return STYLES[dimension] if dimension else QUERY_STYLES


def rubric_messages(*, query_text: str, query_style: str, dimension: str | None, response_text: str,
                    response_tone: str | None, requirement: str | None, retry: bool = False) -> list[dict]:
    """Chat messages for the rubric LLM of the multi-stage judge. `response_tone=None` leaves the response's tone out
    (the paper's O1 ablation: no response-style information); a tone stage that gave nothing is "(not available)"."""
    lines = [
        f"Spoken query (transcript): {query_text or '(no words recognised)'}",
        f"How the query was spoken ({dimension or 'style'}): {query_style}",
    ]
    if requirement:
        lines.append(f"What a fitting reply does for this query and style: {requirement}")
    lines += [
        f"Spoken response (transcript): {response_text or '(no words recognised)'}",
    ]
    if response_tone is not None:
        lines.append(f"How the response sounds (tone, from listening to the voice only): {response_tone or '(not available)'}")
    user = "\n".join(lines) + "\n\n" + JSON_INSTRUCTION + ("\n\n" + STRICT_RETRY if retry else "")
    return [{"role": "system", "content": RUBRIC},
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
    """One audio LLM hears the query (first clip) and the response (second clip) and scores with the same rubric."""
    cue = f" Pay attention to the query speaker's {dimension}." if dimension else ""
    need = f"\nWhat a fitting reply does: {requirement}" if requirement else ""
    text = (f"{RUBRIC}\n\nThe first audio is a user's spoken request; the second is a spoken reply to it.{cue}{need}"
            f"\n\n{JSON_INSTRUCTION}" + ("\n\n" + STRICT_RETRY if retry else ""))
    return [{"role": "user", "content": [AUDIO_PART, AUDIO_PART, {"type": "text", "text": text}]}]


def reward_conversation(*, dimension: str | None = None, requirement: str | None = None,
                        notes: bool = False) -> list[dict]:
    """The reward model's prompt, as in the paper: the model hears the two clips and reads the rubric; the answer is
    the next token, one digit. The query's dimension and the requirement note go in only with `notes=True`
    (`JudgeConfig.reward_prompt_notes`; off by default, since unlabelled RL prompts have neither). Distillation
    (`distill.RewardModelCollator`) builds its training prompts with this function, so what is trained is what is
    used."""
    extra = ""
    if notes and dimension:
        extra += f" Pay attention to the query speaker's {dimension}."
    if notes and requirement:
        extra += f"\nWhat a fitting reply does: {requirement}"
    text = (f"{RUBRIC}\n\nThe first audio is a user's spoken request; the second is a spoken reply to it.{extra}"
            "\n\nAnswer with a single digit from 1 to 5.")
    return [{"role": "user", "content": [AUDIO_PART, AUDIO_PART, {"type": "text", "text": text}]}]


# ---- pairwise judging (`ParaS2SJudge.compare`) ----
PAIRWISE_PROMPT_VERSION = "2026-12-07.1"
"""Version of the pairwise prompts below; part of what keys a `parass2s versus` comparison."""

PAIRWISE_INSTRUCTION = (
    "Which reply fits the request better, in what it says and in how it says it? Judge on the levels above; the "
    "order in which the replies are shown does not matter, and neither does their length. If they fit equally well, "
    "say tie. Give your reasons first. Answer with one JSON object and nothing else:\n"
    '{"rationale": "<the cue, and what each reply does with it in its words and in its voice: two or three '
    'sentences>", "better": "1" or "2" or "tie"}'
)
PAIRWISE_STRICT_RETRY = (
    "Your previous answer could not be read. Reply with exactly one JSON object and nothing else, for example "
    '{"rationale": "...", "better": "2"}.'
)


def pairwise_messages(*, query_text: str, query_style: str, dimension: str | None, requirement: str | None,
                      responses: tuple, tones: tuple, retry: bool = False) -> list[dict]:
    """Chat messages for the rubric LLM comparing two responses (reply 1 shown first): the query's words and style,
    each reply's transcript and, unless `tones` are `None` (the O1 ablation), how it sounds."""
    lines = [
        f"Spoken query (transcript): {query_text or '(no words recognised)'}",
        f"How the query was spoken ({dimension or 'style'}): {query_style}",
    ]
    if requirement:
        lines.append(f"What a fitting reply does for this query and style: {requirement}")
    for k, (text, tone) in enumerate(zip(responses, tones), start=1):
        lines.append(f"Reply {k} (transcript): {text or '(no words recognised)'}")
        if tone is not None:
            lines.append(f"How reply {k} sounds (tone, from listening to the voice only): {tone or '(not available)'}")
    user = "\n".join(lines) + "\n\n" + PAIRWISE_INSTRUCTION + ("\n\n" + PAIRWISE_STRICT_RETRY if retry else "")
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


def pairwise_conversation(*, dimension: str | None, requirement: str | None, retry: bool = False) -> list[dict]:
    """One audio LLM hears the query (first clip) and two replies to it (reply 1, then reply 2) and says which fits
    better, with the same rubric."""
    cue = f" Pay attention to the query speaker's {dimension}." if dimension else ""
    need = f"\nWhat a fitting reply does: {requirement}" if requirement else ""
    text = (f"{RUBRIC}\n\nThe first audio is a user's spoken request; the second is reply 1 and the third is reply 2."
            f"{cue}{need}\n\n{PAIRWISE_INSTRUCTION}" + ("\n\n" + PAIRWISE_STRICT_RETRY if retry else ""))
    return [{"role": "user", "content": [AUDIO_PART, AUDIO_PART, AUDIO_PART, {"type": "text", "text": text}]}]
