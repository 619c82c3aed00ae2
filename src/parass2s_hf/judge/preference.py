"""Reading a preference out of a pairwise judge's answer, honestly (the rules of `parsing` applied to "which reply").

A preference is read only where the answer commits to one of reply 1, reply 2 or a tie:
- a JSON object with `"better"` (the prompt asks for `{"rationale": ..., "better": "1" | "2" | "tie"}`; the keys
  `preference`, `winner` and `better_reply`, and values such as `2`, `"Reply 2"`, `"response 1"`, `"equal"`, are
  read too);
- a labelled verdict: `Better: 2`, `**Winner:** Reply 1`, `Preference = tie`;
- MT-Bench's brackets: `[[1]]`, `[[2]]`, `[[tie]]`;
- an answer that is nothing but `1`, `2`, `tie` or `Reply 2`.

Everything else is missing, with the reason: no verdict (a free-text "reply 2 sounds warmer" is a rationale, not a
verdict), a value that names neither reply nor a tie (`"3"`, `"both bad"`), a hedge (`1 or 2`) or two different
verdicts. A reader that guesses turns noise into preferences a user cannot tell from real ones.
"""

from __future__ import annotations

import re

from .parsing import JudgeParseError, _json_spans, _quote

FIRST, SECOND, TIE = "first", "second", "tie"
VERDICTS = (FIRST, SECOND, TIE)

_KEYS = ("better", "preference", "winner", "better_reply", "verdict")
_VALUE = re.compile(r"^\s*(?:(?:reply|response|answer)\s*)?(?P<v>[12])\s*$|^\s*(?P<tie>tie|equal|equally\s+good|same"
                    r"|draw|neither\s+is\s+better)\s*$", re.IGNORECASE)
_LABELLED = re.compile(r"\b(?:better(?:\s+reply)?|preference|preferred(?:\s+reply)?|winner|verdict)\s*(?::|=|\bis\b)\s*"
                       r"(?:(?:reply|response|answer)\s*)?(?P<value>[12](?!\d|[.,]\d)|tie\b|equal\b)(?P<tail>\s*(?:or|and|/|,)\s*"
                       r"(?:(?:reply|response)\s*)?(?:[12]|tie)\b)?", re.IGNORECASE)
_BRACKETS = re.compile(r"\[\[\s*(?P<value>[12]|tie)\s*\]\]", re.IGNORECASE)
_MARKDOWN = re.compile(r"[*_`#]")


def _verdict(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return {1: FIRST, 2: SECOND}.get(value)
    if not isinstance(value, str):
        return None
    match = _VALUE.match(value)
    if not match:
        return None
    return TIE if match.group("tie") else (FIRST if match.group("v") == "1" else SECOND)


def parse_preference(text: str) -> str:
    """Which reply an answer prefers: `"first"` (reply 1, shown first), `"second"` or `"tie"`.

    Raises:
        `JudgeParseError`: no verdict, a value that names no reply, a hedge, or two different verdicts; the message
            says which and quotes the answer.
    """
    if not isinstance(text, str) or not text.strip():
        raise JudgeParseError("empty answer")
    found = []
    plain = list(text)
    for start, end, obj in _json_spans(text):
        plain[start:end] = " " * (end - start)
        for key in _KEYS:
            if key in obj:
                verdict = _verdict(obj[key])
                if verdict is None:
                    raise JudgeParseError(f"{key} {obj[key]!r} names neither reply 1, reply 2 nor a tie in "
                                          f"{_quote(text)}")
                found.append(verdict)
    plain = _MARKDOWN.sub(" ", "".join(plain))
    for match in _LABELLED.finditer(plain):
        if match.group("tail"):
            raise JudgeParseError(f"a hedged verdict ({match.group(0).strip()!r}) in {_quote(text)}")
        found.append(_verdict(match.group("value")))
    found += [_verdict(m.group("value")) for m in _BRACKETS.finditer(plain)]
    if not found:
        only = _verdict(plain.strip(" \t\n.!\"'"))
        if only is None:
            raise JudgeParseError(f"no preference found in {_quote(text)}")
        found = [only]
    if len(set(found)) > 1:
        raise JudgeParseError(f"conflicting preferences {sorted(set(found))} in {_quote(text)}")
    return found[0]
