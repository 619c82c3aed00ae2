"""Prompts of the generate and filter stages (paper Part 1, steps 1 and 2) and the reading of their JSON answers.

Each prompt's user message starts with a marker line, `TASK: generate`, `TASK: neutrality`, `TASK: plausibility` or
`TASK: relevance`, followed by its details as `Key: value` lines (the scripted test LLM reads them).

Design rules of a query text (the paper's): its words are neutral (nothing in them reveals the style: no emotion
words, sarcasm markers, or hints of the speaker's age or gender: `bench.text_lint.CUE_LEXICON`), it is plausible to
say in each of the contrasting styles, and a fitting reply differs by style, in content and in tone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from ..bench.text_lint import CUE_LEXICON, CUE_PUNCTUATION, MAX_REPLY_WORDS, MAX_WORDS, MIN_WORDS
from ..constants import REPLY_STYLES, STYLES

FILTER_TESTS = ("neutrality", "plausibility", "relevance")

DEFAULT_TOPICS = (
    "cooking", "weather", "travel plans", "household chores", "shopping", "neighbours", "public transport", "pets",
    "sports", "music", "films and television", "hobbies", "doctor's appointments", "phones and computers",
    "gardening", "holidays", "friends", "moving house", "food and restaurants", "the weekend", "the news", "games",
    "books", "parcels and deliveries",
)
"""Everyday topic seeds: one per generate call; topics, not records, are assigned to the train or test split."""

SUGGESTED_REPLY_STYLES = {
    "happy": ("cheerful", "excited", "warm"),
    "surprised": ("excited", "playful", "calm"),
    "sad": ("sympathetic", "gentle", "warm"),
    "angry": ("calm", "apologetic", "serious"),
    "fear": ("calm", "gentle", "concerned"),
    "disgust": ("sympathetic", "concerned", "calm"),
    "sincere": ("warm", "cheerful", "neutral"),
    "sarcastic": ("playful", "sympathetic", "apologetic"),
    "adult": ("neutral", "serious", "warm"),
    "child": ("gentle", "cheerful", "playful"),
    "male": ("neutral", "warm", "serious"),
    "female": ("neutral", "warm", "serious"),
}
"""Reply styles that usually fit a query style (a hint in the prompt; any of `REPLY_STYLES` is accepted)."""

DIMENSION_GUIDANCE = {
    "emotion": "The sentence must carry no emotion in its words: no feeling words, no exclamations, no judging "
               "adjectives (great, awful). Only the voice will tell whether it was said happily, sadly, angrily, "
               "fearfully, with surprise or with disgust.",
    "sarcasm": "The sentence must read as sincere or as sarcastic depending only on the tone of voice: no sarcasm "
               "markers (yeah right, oh great, obviously, thanks a lot), no over-the-top praise.",
    "age": "The sentence must be one that a young child and an adult would both say: avoid anything only adults "
           "talk about (jobs, offices, bosses, rent, taxes, partners, driving, alcohol) and anything only children "
           "talk about (school, teachers, homework, toys, parents, bedtime). A fitting reply still differs: for a "
           "child it is simple, safe and gentle; for an adult it gives adult advice.",
    "gender": "The sentence must not reveal whether a man or a woman says it: no partners (husband, wife, "
              "boyfriend, girlfriend), no gendered clothing, body or health topics, no gendered words. A fitting "
              "reply still differs, e.g. in advice or recommendations suited to the speaker.",
}

GENERATE_SYSTEM = (
    "You write test items for a benchmark of speech assistants that must hear HOW something is said, not only WHAT "
    "is said. Each item is a short sentence a person says aloud to an assistant. The same words are spoken in "
    "different styles, so the words themselves must stay neutral: a reader of the text alone must not be able to "
    "tell the style. You answer with JSON only."
)

FILTER_SYSTEM = (
    "You review test items for a benchmark of speech assistants that must hear how something is said. The same "
    "words are spoken in different styles, so the words must not give the style away. You answer with one JSON "
    'object only: {"pass": true or false, "reason": "<one sentence>"}.'
)


def pair_text(pair: Sequence[str]) -> str:
    return "+".join(pair)


def _cue_list(dimension: str) -> str:
    return ", ".join(CUE_LEXICON.get(dimension, ())) + " and the characters " + " ".join(CUE_PUNCTUATION)


def _schema(mode: str) -> str:
    if mode == "polytone":
        return '[\n  {"scenario": "<one sentence: the situation>", "text": "<what the speaker says>"}\n]'
    return (
        '[\n  {"scenario": "<one sentence: the situation>",\n   "text": "<what the speaker says>",\n'
        '   "styles": ["<style A>", "<style B>"],\n'
        '   "per_style": {\n'
        '     "<style A>": {"requirement": "<what a fitting reply does, in content and in tone, when the text is '
        'said in style A>",\n'
        '                  "reference_reply": "<a fitting spoken reply>", "reference_reply_style": "<reply style>"},\n'
        '     "<style B>": {"requirement": "...", "reference_reply": "...", "reference_reply_style": "..."}}}\n]'
    )


def generation_request(count: int, pairs: Sequence[Sequence[str]] | None, mode: str) -> str:
    """The lines saying how many records to write and, for benchmark and sft, the style pair of each."""
    lines = [f"Count: {count}"]
    if mode != "polytone" and pairs:
        lines.append("Styles per record: " + "; ".join(pair_text(p) for p in pairs))
    return "\n".join(lines)


def generation_messages(dimension: str, mode: str, topic: str, count: int,
                        pairs: Sequence[Sequence[str]] | None = None, avoid: Sequence[str] = ()) -> list[dict]:
    """The chat asking for `count` records of `dimension` on `topic`.

    Args:
        dimension (`str`): one of `constants.DIMENSIONS`.
        mode (`str`): `"benchmark"` or `"sft"` (a text, two contrasting styles, a requirement and reference reply per
            style) or `"polytone"` (neutral texts said in every style of the dimension).
        topic (`str`): the topic seed.
        count (`int`): records to write.
        pairs (`Sequence[Sequence[str]]`, *optional*): the two contrasting styles of each record (benchmark, sft).
        avoid (`Sequence[str]`, *optional*): texts already written, not to repeat or paraphrase.
    """
    styles = STYLES[dimension]
    lines = ["TASK: generate", f"Dimension: {dimension}", f"Mode: {mode}", f"Topic: {topic}",
             generation_request(count, pairs, mode), ""]
    if mode == "polytone":
        lines.append(f"Write {count} different sentences about the topic, each of which a person could naturally "
                     f"say in every one of these {dimension} styles: {', '.join(styles)}. Each will be recorded in "
                     f"all of those styles to train a classifier that must listen to the voice, not the words.")
    else:
        lines.append(f"Write {count} different items about the topic. Each item is a sentence a person says to a "
                     f"voice assistant, and the two {dimension} styles it will be spoken in (given above, one pair per "
                     f"item, in order; the {dimension} styles are: {', '.join(styles)}).")
    lines += [
        "",
        "Rules for the sentence (\"text\"):",
        f"- {MIN_WORDS} to {MAX_WORDS} words, everyday spoken English, one or two short sentences, about the topic.",
        f"- Neutral words. {DIMENSION_GUIDANCE[dimension]}",
        f"- Never use these words or phrases: {_cue_list(dimension)}.",
        "- Natural to say in each of the styles: a real person could say it in every one of them.",
        "- Each text different from the others and from these earlier ones: "
        + ("; ".join(f"'{t}'" for t in avoid) if avoid else "(none yet)") + ".",
        "- \"scenario\": one sentence describing the situation behind the words.",
    ]
    if mode != "polytone":
        lines += [
            "",
            "Rules for each style (\"per_style\", one entry per style of the item):",
            ("- \"requirement\": what a fitting reply does when the text is said in that style: how it reads the "
            "speaker's state, what it says, and its tone of voice. The two styles must call for clearly different "
            "replies."),
            (f"- \"reference_reply\": one fitting reply, plain spoken words, at most {MAX_REPLY_WORDS} words, no "
            "brackets, lists or emojis. The two replies must differ."),
            f"- \"reference_reply_style\": the speaking style of that reply, one of: {', '.join(REPLY_STYLES)}. "
            "For example: "
            + "; ".join(f"{s} -> {' or '.join(SUGGESTED_REPLY_STYLES[s])}" for s in styles) + ".",
        ]
    lines += ["", "Answer with a JSON array only, no other text, in this format:", _schema(mode)]
    return [{"role": "system", "content": GENERATE_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def generation_feedback(problem: str, count: int, pairs: Sequence[Sequence[str]] | None, mode: str) -> str:
    """The user message after an answer that could not be used: what was wrong, and what to write now."""
    return (f"{problem}\n\n{generation_request(count, pairs, mode)}\n\nWrite {count} new "
            f"{'sentences' if mode == 'polytone' else 'items'} that follow every rule above, different from all "
            f"earlier ones. Answer with the JSON array only, in the same format.")


FILTER_QUESTIONS = {
    "neutrality": (
        "Read only the words. Could a reader tell from the words alone which of these styles the speaker uses: "
        "{styles}? Look for {cues}. Pass if the words are neutral, so that only the voice can tell the styles "
        "apart; fail if the words lean towards one style."
    ),
    "plausibility": (
        "Is it natural for a real person to say these words in each of these styles: {styles}? Pass if every style "
        "is plausible for this sentence in this situation; fail if any of them would sound odd or forced."
    ),
    "relevance": (
        "Does the style change what a good reply is? Read the requirement and reference reply for each style. "
        "Pass if the styles call for clearly different replies (in content or in tone) and each reference reply "
        "fits its style; fail if one reply would serve every style equally well."
    ),
}


NEUTRALITY_CUES = {
    "emotion": "feeling words, exclamations, and judging words (great, awful) that show how the speaker feels",
    "sarcasm": "sarcasm markers (yeah right, oh great, obviously), exaggerated praise, and anything that shows the "
               "words are not meant literally",
    "age": "anything only a child or only an adult would talk about or say (school, toys, parents; jobs, rent, "
           "partners, driving)",
    "gender": "anything that shows whether a man or a woman is speaking (partners, clothing, body, gendered words)",
}


def filter_messages(test: str, record: Mapping, mode: str) -> list[dict]:
    """The chat asking one filter test (`"neutrality"`, `"plausibility"`, `"relevance"`) about one record."""
    if test not in FILTER_TESTS:
        raise ValueError(f"Unknown filter test {test!r}; expected one of {list(FILTER_TESTS)}.")
    dimension = record["dimension"]
    styles = list(record.get("styles") or STYLES[dimension])
    lines = [f"TASK: {test}", f"Dimension: {dimension}", f"Mode: {mode}", f"Styles: {', '.join(styles)}",
             f"Scenario: {record.get('scenario', '')}", f"Text: {record['text']}"]
    if test == "relevance":
        for style in styles:
            entry = (record.get("per_style") or {}).get(style, {})
            lines += [f"Style {style}: requirement: {entry.get('requirement', '')}",
                      (f"Style {style}: reference reply ({entry.get('reference_reply_style', '')}): "
                      f"{entry.get('reference_reply', '')}")]
    lines += ["", FILTER_QUESTIONS[test].format(styles=", ".join(styles), cues=NEUTRALITY_CUES[dimension]), "",
              'Answer with one JSON object only: {"pass": true or false, "reason": "<one sentence>"}']
    return [{"role": "system", "content": FILTER_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def filter_feedback(problem: str) -> str:
    return (f"Your answer could not be read: {problem}. Answer again with one JSON object only: "
            '{"pass": true or false, "reason": "<one sentence>"}')


# ---- reading answers ----

class OutputParseError(ValueError):
    """An LLM answer that holds no usable JSON."""


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str):
    """The JSON value in an LLM answer: the whole answer, a fenced block, or the outermost `[...]` / `{...}` span.

    Raises:
        `OutputParseError`: none of those parses.
    """
    if not isinstance(text, str) or not text.strip():
        raise OutputParseError("empty answer")
    candidates = [text.strip()] + [m.group(1).strip() for m in _FENCE.finditer(text)]
    for open_, close in (("[", "]"), ("{", "}")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            candidates.append(text[start:end + 1])
    error = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as e:
            error = error or e
    snippet = " ".join(text.split())[:80]
    raise OutputParseError(f"not valid JSON ({error.msg if error else 'no JSON found'}) in {snippet!r}")
