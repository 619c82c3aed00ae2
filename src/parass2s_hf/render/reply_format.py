"""The reply format: `[style: <reply style>] <reply text>`.

A policy's completion, a reference reply and the cascade topline's output all carry their speaking style
this way, so a renderer can speak them. Parsing never fails: a missing or unknown tag reads as `neutral`
and is counted in the optional `stats` counter, so training does not stop on a malformed completion.

```python
>>> parse_reply("[style: sympathetic] I'm sorry to hear that.")
('sympathetic', "I'm sorry to hear that.")
>>> stats = collections.Counter(); parse_reply("Sure thing.", stats), stats
(('neutral', 'Sure thing.'), Counter({'missing_tag': 1}))
```
"""

from __future__ import annotations

import re
from collections import Counter

from ..constants import REPLY_STYLES

DEFAULT_REPLY_STYLE = "neutral"
_TAG = re.compile(r"^\s*\[\s*style\s*[:=]\s*([^\]\n]*?)\s*\]\s*", re.IGNORECASE)


def format_reply(style: str, text: str) -> str:
    """Write a reply in the `[style: ...]` format; `ValueError` for a style outside the reply vocabulary."""
    if style not in REPLY_STYLES:
        raise ValueError(f"Unknown reply style {style!r}; expected one of {list(REPLY_STYLES)}.")
    return f"[style: {style}] {text.strip()}"


def parse_reply(reply: str, stats: Counter | None = None) -> tuple[str, str]:
    """Split a reply into `(style, text)`.

    Args:
        reply (`str`): text that should start with `[style: <reply style>]`. Case and spacing of the tag are
            forgiven (`[Style:Warm]` reads as `warm`).
        stats (`collections.Counter`, *optional*): incremented at `"missing_tag"` or `"unknown_style"` when the
            tag is absent or names no reply style, and at `"ok"` otherwise.

    Returns:
        `tuple[str, str]`: the reply style (`"neutral"` when missing or unknown) and the text to speak, without
        the tag. An unknown tag is still removed from the text, so it is not read aloud.
    """
    if not isinstance(reply, str):
        raise TypeError(f"parse_reply expects a string, got {type(reply).__name__}")
    match = _TAG.match(reply)
    if match is None:
        outcome = "missing_tag"
        style = DEFAULT_REPLY_STYLE
        text = reply.strip()
    else:
        name = match.group(1).strip().lower()
        text = reply[match.end():].strip()
        if name in REPLY_STYLES:
            outcome, style = "ok", name
        else:
            outcome, style = "unknown_style", DEFAULT_REPLY_STYLE
    if stats is not None:
        stats[outcome] += 1
    return style, text
