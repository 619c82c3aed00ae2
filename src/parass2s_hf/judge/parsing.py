"""Reading a score out of a judge's answer, honestly.

Accepted: a JSON object (`{"score": 4, ...}`), a labelled score (`Score: 4`, `Overall rating - 4/5`,
`**Score:** **4**`), a fraction (`**4**/5`, `4 out of 5`), or an answer that is nothing but the digit. A digit
buried in other text is not a score: a random model's `angr5 are` must read as missing, because a lenient regex
makes garbage look like a valid judgement. Conflicting candidates are missing too, never guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..constants import SCORE_MAX, SCORE_MIN


class JudgeParseError(ValueError):
    """The judge's answer holds no readable score (the message says why and quotes the answer's start)."""


@dataclass
class ParsedJudgement:
    score: int
    content_score: int | None = None
    style_score: int | None = None
    rationale: str = ""


_DIGIT = r"\**\s*([1-5])(?:\.0)?\s*\**"
_SCALE = r"(?:\s*(?:/|out\s+of)\s*5\b)?"
_LABELLED = {
    "content": re.compile(r"\bcontent(?:[\s_-]*score)?\**\s*[:=\-]\s*" + _DIGIT + _SCALE, re.IGNORECASE),
    "style": re.compile(r"\bstyle(?:[\s_-]*score)?\**\s*[:=\-]\s*" + _DIGIT + _SCALE, re.IGNORECASE),
    "score": re.compile(r"\b(?:overall\s+|final\s+)?(?:score|rating)\**\s*(?:is\s*)?[:=\-]?\s*" + _DIGIT + _SCALE
                        + r"(?!\.?\d)", re.IGNORECASE),
}
_FRACTION = re.compile(r"(?<![\w.])" + _DIGIT + r"\s*(?:/|out\s+of)\s*5\b", re.IGNORECASE)
_ONLY_DIGIT = re.compile(r"^\W*([1-5])(?:\.0)?\W*$")


def _score_value(value, what: str) -> int:
    if isinstance(value, bool):
        raise JudgeParseError(f"{what} is a boolean, not a score")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not SCORE_MIN <= value <= SCORE_MAX:
        raise JudgeParseError(f"{what} {value!r} is not an integer from {SCORE_MIN} to {SCORE_MAX}")
    return value


def _json_objects(text: str):
    """Every top-level `{...}` span that parses as a JSON object."""
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                try:
                    obj = json.loads(text[start:i + 1])
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict):
                    yield obj


def parse_judgement(text: str) -> ParsedJudgement:
    """Parse a judge's answer.

    Raises:
        `JudgeParseError`: no score, a score outside 1-5, or conflicting scores.
    """
    if not isinstance(text, str) or not text.strip():
        raise JudgeParseError("empty answer")
    for obj in _json_objects(text):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        key = next((k for k in ("score", "overall_score", "overall", "rating") if k in lowered), None)
        if key is None:
            continue
        return ParsedJudgement(
            score=_score_value(lowered[key], "JSON score"),
            content_score=_score_value(lowered["content_score"], "content_score") if "content_score" in lowered else None,
            style_score=_score_value(lowered["style_score"], "style_score") if "style_score" in lowered else None,
            rationale=str(lowered.get("rationale") or lowered.get("reason") or lowered.get("explanation") or ""),
        )
    found = {}
    masked = text
    for name in ("content", "style"):  # read and blank these first, so "Content score: 4" is not the overall score
        matches = list(_LABELLED[name].finditer(masked))
        if matches:
            found[name] = int(matches[-1].group(1))
            for m in matches:
                masked = masked[:m.start()] + " " * (m.end() - m.start()) + masked[m.end():]
    overall = [int(m.group(1)) for m in _LABELLED["score"].finditer(masked)]
    if overall:
        score = overall[-1]  # a final verdict usually comes last ("... so my score is 4")
    else:
        fractions = {int(m.group(1)) for m in _FRACTION.finditer(masked)}
        if len(fractions) > 1:
            raise JudgeParseError(f"conflicting scores {sorted(fractions)} in {_quote(text)}")
        if fractions:
            score = fractions.pop()
        else:
            only = _ONLY_DIGIT.match(text)
            if not only:
                raise JudgeParseError(f"no score found in {_quote(text)}")
            score = int(only.group(1))
    return ParsedJudgement(score=score, content_score=found.get("content"), style_score=found.get("style"),
                           rationale=text.strip())


def parse_style(text: str, choices) -> str | None:
    """The one style of `choices` named in an audio LLM's answer, or `None` when it names none or several."""
    words = set(re.findall(r"[a-z]+", (text or "").lower()))
    aliases = {"fearful": "fear", "scared": "fear", "afraid": "fear", "disgusted": "disgust", "angered": "angry",
               "surprise": "surprised", "happiness": "happy", "sadness": "sad", "sarcasm": "sarcastic",
               "man": "male", "woman": "female", "kid": "child"}
    named = {c for c in choices if c in words} | {aliases[w] for w in words if w in aliases and aliases[w] in choices}
    return named.pop() if len(named) == 1 else None


def _quote(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text[:n] + ("..." if len(text) > n else ""))
