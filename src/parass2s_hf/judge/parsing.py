"""Reading a score out of a judge's answer, honestly.

A score is read only where the answer commits to one integer from 1 to 5 on the 1-5 scale:
- a JSON object with a `"score"` (the prompt asks for `{"rationale": ..., "content_score": n, "style_score": n,
  "score": n}`);
- the paper's form, `The reason is ...; The score is 4.`;
- a labelled score: `Score: 4`, `Overall Score (1-5): 4`, `**Score:** **4**`, `Final rating = 4/5`;
- a fraction on the 1-5 scale: `**4**/5`, `4 out of 5`;
- an answer that is nothing but the digit.

Everything else is missing, with the reason: no score at all (a digit buried in other text, such as a random model's
`angr5 are`, is not a score), a score on another scale (`5/10`, `4 out of 10`, `Score (1-10): 7`), off the scale
(`Score: 7`), not an integer (`4.5`), a range (`3-4`, `between 3 and 4`), a list (`4,5`, `4 or 5`), a hedge (`2 out
of 5 but could be 5`) or two different scores (`Score: 4 and Score: 2`, a JSON score contradicted by a labelled one).
A lenient reader turns such answers into numbers a user cannot tell from real judgements.

`ParsedJudgement.score_offset` is the character offset of the digit that was read, so the expected score is taken
from the token probabilities at that very digit (`backends.Generation.expected_at`).
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
    """What was read from an answer.

    Attributes:
        score (`int`): the overall score, 1-5.
        content_score, style_score (`int` or `None`): the sub-scores, when given (and not contradictory).
        rationale (`str`): the judge's reasons (the JSON `rationale`, the text after "The reason is", or the answer).
        score_offset (`int` or `None`): character offset in the answer of the digit `score` was read from.
    """

    score: int
    content_score: int | None = None
    style_score: int | None = None
    rationale: str = ""
    score_offset: int | None = None


@dataclass
class _Statement:
    """One place where the answer states a score; `problem` says why it cannot be used, when it cannot."""

    kind: str  # "score", "content" or "style"
    value: int | None
    offset: int | None
    problem: str = ""
    text: str = ""


_SCORE_KEYS = ("score", "overall_score", "overall", "rating", "final_score")
_SUB_KEYS = {"content": ("content_score", "content"), "style": ("style_score", "style")}

# A label: "score", "rating", "overall score", "final rating", "content score", "style_score", "Score (1-5)" ...
# "scores"/"scored" are verbs, not labels (\b after the noun).
_LABEL = re.compile(
    r"\b(?:(?P<sub>content|style)[\s_-]*(?:score|rating)?|(?:(?:overall|final|total)[\s_-]+)?(?:score|rating))\b",
    re.IGNORECASE)
# What may stand between a label and its number: a scale in brackets, a colon, "is", "of", "=", a dash.
_BRIDGE = re.compile(r"(?P<bridge>(?:\s*(?:\((?P<scale_a>[^()\n]{1,24})\)|\[(?P<scale_b>[^\[\]\n]{1,24})\]))?"
                     r"\s*(?:(?::|=|\bis\b|\bof\b|-(?!\d)|–)\s*){0,2})", re.IGNORECASE)
_NUMBER = re.compile(r"(?P<sign>[-+])?(?P<int>\d+)(?P<frac>[.,]\d+)?")
_FRACTION_TAIL = re.compile(r"\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?)", re.IGNORECASE)
_RANGE_TAIL = re.compile(r"\s*(?:-|–|to)\s*\d", re.IGNORECASE)
_LIST_TAIL = re.compile(r"\s*(?:or|and|,|&)\s*(?:a\s+)?\d", re.IGNORECASE)
# A fraction standing alone ("2 out of 5", "4/5"); other denominators (a 10 or 100 scale) are wrong-scale scores.
_LONE_FRACTION = re.compile(r"(?<![\w.])(?P<num>\d+(?:\.\d+)?)\s*(?:/|out\s+of)\s*(?P<den>5|10|100)\b(?![.,]\d)",
                            re.IGNORECASE)
# "could be 5" is a hedge; "could be 2 sentences shorter" is not (a digit followed by a noun counts things).
_SCORE_DIGIT = r"(?P<d>\d)(?![\d.,]\d)(?!\s+(?!out\b|or\b|and\b|points?\b|stars?\b|if\b|since\b|because\b|as\b)[a-z])"
_HEDGES = (
    re.compile(r"\b(?:could|might|may|would|should|can)\s+(?:also\s+|even\s+|arguably\s+|easily\s+)?(?:be|deserve|"
               r"get|merit|earn|warrant|justify|go\s+up\s+to|reach)\s+(?:a\s+|an\s+)?" + _SCORE_DIGIT, re.IGNORECASE),
    re.compile(r"\b(?:maybe|perhaps|possibly|arguably|probably)\s+(?:even\s+)?(?:a\s+|an\s+)?" + _SCORE_DIGIT,
               re.IGNORECASE),
    re.compile(r"\bbetween\s+(?:a\s+)?(?P<d>\d)\s+and\s+(?:a\s+)?\d\b", re.IGNORECASE),
    re.compile(r"\beither\s+(?:a\s+)?(?P<d>\d)\s+or\s+(?:a\s+)?\d\b", re.IGNORECASE),
)
_ONLY_DIGIT = re.compile(r"^\W*(?P<d>[1-5])(?:\.0)?\W*$")
_REASON = re.compile(r"\breason\s+is\s*:?\s*(?P<r>.*?)[\s;.,]*(?:the\s+)?(?:(?:final|overall)\s+)?score\s+is\b",
                     re.IGNORECASE | re.DOTALL)
_MARKDOWN = re.compile(r"[*_`#]")


def _value_problem(value, what: str) -> tuple[int | None, str]:
    """(integer, "") for a usable 1-5 value, else (None, why)."""
    if isinstance(value, bool):
        return None, f"{what} is a boolean, not a score"
    if isinstance(value, str):
        stripped = value.strip()
        if re.fullmatch(r"[1-5](?:\.0)?", stripped):
            return int(stripped[0]), ""
        return None, f"{what} {value!r} is not one integer from {SCORE_MIN} to {SCORE_MAX}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        return None, f"{what} {value!r} is not an integer"
    if not SCORE_MIN <= value <= SCORE_MAX:
        return None, f"{what} {value} is off the {SCORE_MIN}-{SCORE_MAX} scale"
    return value, ""


def _json_spans(text: str):
    """(start, end, object) of every top-level `{...}` span that parses as a JSON object."""
    depth, start, in_string, escaped = 0, None, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth:
            in_string = True
        elif ch == "{":
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
                    yield start, i + 1, obj


def _json_value_offset(text: str, start: int, end: int, key: str) -> int | None:
    """Offset of the (last) digit value of `"key":` inside the JSON span, as the answer wrote it."""
    found = None
    for m in re.finditer(r'(?<!\\)"' + re.escape(key) + r'"\s*:\s*"?\s*(\d)', text[start:end], re.IGNORECASE):
        found = start + m.start(1)
    return found


def _json_statements(text: str) -> tuple[list[_Statement], list[tuple[int, int]], str]:
    statements, spans, rationale = [], [], ""
    for start, end, obj in _json_spans(text):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        key = next((k for k in _SCORE_KEYS if k in lowered), None)
        if key is None:
            continue
        spans.append((start, end))
        value, problem = _value_problem(lowered[key], f"JSON {key}")
        statements.append(_Statement("score", value, _json_value_offset(text, start, end, key), problem,
                                     text[start:end]))
        for kind, keys in _SUB_KEYS.items():
            sub = next((k for k in keys if k in lowered), None)
            if sub is not None:
                value, problem = _value_problem(lowered[sub], f"JSON {sub}")
                statements.append(_Statement(kind, value, None, problem))
        rationale = rationale or str(lowered.get("rationale") or lowered.get("reason") or
                                     lowered.get("explanation") or "")
    return statements, spans, rationale


def _scale_problem(scale: str | None) -> str:
    """A bracketed scale next to a label ("(1-5)", "(out of 5)", "[0-10]"): "" when it is the 1-5 scale."""
    if not scale:
        return ""
    numbers = [int(n) for n in re.findall(r"\d+", scale)]
    if numbers and max(numbers) != SCORE_MAX:
        return f"a score on another scale ({scale.strip()})"
    return ""


def _number_statement(kind: str, plain: str, at: int, scale_problem: str = "") -> tuple[_Statement, int] | None:
    """The statement whose number starts at `at` in `plain`, and where it ends; `None` when no number is there."""
    number = _NUMBER.match(plain, at)
    if not number:
        return None
    end = number.end()
    shown = plain[at:end]
    offset = number.start("int")
    statement = _Statement(kind, None, offset, text=shown)
    fraction = _FRACTION_TAIL.match(plain, end)
    if fraction:
        end = fraction.end()
        statement.text = plain[at:end]
        if float(fraction.group("den")) != SCORE_MAX:
            statement.problem = f"a score on another scale ({' '.join(statement.text.split())})"
            return statement, end
    if scale_problem:
        statement.problem = scale_problem
        return statement, end
    if _RANGE_TAIL.match(plain, end):
        statement.problem = f"a range, not one score ({' '.join(plain[at:end + 4].split())}...)"
        return statement, end
    if number.group("frac"):
        frac = number.group("frac")
        if frac[0] == "," or int(frac[1:]) != 0:
            statement.problem = f"not one integer ({shown}: a decimal or a list)"
            return statement, end
    if _LIST_TAIL.match(plain, end):
        statement.problem = f"several scores ({' '.join(plain[at:end + 6].split())}...)"
        return statement, end
    if number.group("sign") == "-":
        statement.problem = f"{shown} is off the {SCORE_MIN}-{SCORE_MAX} scale"
        return statement, end
    value = int(number.group("int"))
    if not SCORE_MIN <= value <= SCORE_MAX:
        statement.problem = f"{value} is off the {SCORE_MIN}-{SCORE_MAX} scale"
        return statement, end
    statement.value = value
    return statement, end


def _free_text_statements(plain: str) -> list[_Statement]:
    statements, taken = [], []
    for label in _LABEL.finditer(plain):
        bridge = _BRIDGE.match(plain, label.end())
        if label.group("sub") and not re.search(r"score|rating", label.group(0), re.IGNORECASE) \
                and not re.search(r"[:=]", bridge.group("bridge")):
            continue  # a bare "content"/"style" is a label only with a colon ("Style: 2"), not in "the content is 3 lines"
        scale = bridge.group("scale_a") or bridge.group("scale_b")
        found = _number_statement((label.group("sub") or "score").lower(), plain, bridge.end(), _scale_problem(scale))
        if found is None:
            continue
        statement, end = found
        statements.append(statement)
        taken.append((label.start(), end))
    for m in _LONE_FRACTION.finditer(plain):
        if any(a <= m.start() < b for a, b in taken):
            continue
        found = _number_statement("score", plain, m.start())
        if found is not None:
            statements.append(found[0])
    return statements


def _hedge(plain: str, score: int) -> str:
    """A hedge that names another score than `score` ("but could be 5"), or ""."""
    for pattern in _HEDGES:
        for m in pattern.finditer(plain):
            if int(m.group("d")) != score or pattern.pattern.startswith(r"\bbetween") or \
                    pattern.pattern.startswith(r"\beither"):
                return " ".join(m.group(0).split())
    return ""


def _quote(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text[:n] + ("..." if len(text) > n else ""))


def parse_judgement(text: str) -> ParsedJudgement:
    """Parse a judge's answer (see the module's docstring for what counts as a score).

    Raises:
        `JudgeParseError`: no score; or a score that is not one integer on the 1-5 scale; or conflicting or hedged
            scores. The message says which, and quotes the answer.
    """
    if not isinstance(text, str) or not text.strip():
        raise JudgeParseError("empty answer")
    statements, spans, rationale = _json_statements(text)
    # The free text, with the JSON objects blanked (a rationale's digits are not scores) and Markdown emphasis turned
    # into spaces: offsets stay those of `text`.
    plain = list(text)
    for start, end in spans:
        plain[start:end] = " " * (end - start)
    plain = _MARKDOWN.sub(" ", "".join(plain))
    statements += _free_text_statements(plain)

    overall = [s for s in statements if s.kind == "score"]
    bad = [s for s in overall if s.problem]
    if bad:
        raise JudgeParseError(f"{bad[0].problem} in {_quote(text)}")
    if not overall:
        only = _ONLY_DIGIT.match(plain)
        if not only:
            raise JudgeParseError(f"no score found in {_quote(text)}")
        overall = [_Statement("score", int(only.group("d")), only.start("d"))]
    values = sorted({s.value for s in overall})
    if len(values) > 1:
        raise JudgeParseError(f"conflicting scores {values} in {_quote(text)}")
    score = values[0]
    hedge = _hedge(plain, score)
    if hedge:
        raise JudgeParseError(f"a hedged score ({hedge!r} beside {score}) in {_quote(text)}")
    subs = {}
    for kind in _SUB_KEYS:
        found = {s.value for s in statements if s.kind == kind and not s.problem}
        subs[kind] = found.pop() if len(found) == 1 else None
    if not rationale:
        reason = _REASON.search(text)
        rationale = reason.group("r").strip() if reason else text.strip()
    return ParsedJudgement(score=score, content_score=subs["content"], style_score=subs["style"], rationale=rationale,
                           score_offset=overall[-1].offset)


_NEGATORS = {"not", "no", "never", "hardly", "without", "neither", "nor", "isn't", "wasn't", "doesn't", "don't",
             "didn't", "aren't", "nothing", "barely", "lacks", "lacking"}
_NEGATION_STOPS = {"but", "rather", "instead", "though", "although", "yet", "more", "mostly", ".", ",", ";", ":", "!",
                   "?"}
_STYLE_ALIASES = {"fearful": "fear", "scared": "fear", "afraid": "fear", "disgusted": "disgust", "angered": "angry",
                  "surprise": "surprised", "happiness": "happy", "sadness": "sad", "sarcasm": "sarcastic",
                  "man": "male", "woman": "female", "kid": "child"}


def _negated(tokens: list[str], index: int, window: int = 3) -> bool:
    """Whether a negator stands within `window` words before `tokens[index]`, with no "but"/comma between."""
    for token in reversed(tokens[max(0, index - window):index]):
        if token in _NEGATION_STOPS:
            return False
        if token in _NEGATORS or token.endswith("n't"):
            return True
    return False


def parse_style(text: str, choices) -> str | None:
    """The one style of `choices` an audio LLM's answer names, or `None` when it names none or several.

    A negated mention is not a match: `"not happy"` names no style, `"not happy, rather sad"` names `sad`.
    """
    tokens = re.findall(r"[a-z']+|[.,;:!?]", (text or "").lower())
    named = set()
    for i, token in enumerate(tokens):
        style = token if token in choices else _STYLE_ALIASES.get(token)
        if style in choices and not _negated(tokens, i):
            named.add(style)
    return named.pop() if len(named) == 1 else None
