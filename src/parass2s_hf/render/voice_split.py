"""Test and train splits with disjoint voices: a model trained on the train split never hears a test voice.

Every voice a renderer can use for a set of styles (its `voices(style)` pools) is assigned to test or train once,
balancing each pool between the two (`assign_voice_splits`); a clip then takes a voice key whose voice lies in its
split's share (`pick_voice_key`: a deterministic search, so styles that share a pool, such as the two styles of an
emotion pair spoken by one speaker, find the same voice). `VoicePlan` holds the result for a renderer and a set of
styles. The ParaS2SBench builder and the render stage of `parass2s build` both use it.
"""

from __future__ import annotations

import logging
from collections import Counter

logger = logging.getLogger(__name__)

_MAX_KEY_TRIES = 512


def assign_voice_splits(pools: dict[str, list[str]]) -> dict[str, str]:
    """Assign every voice of the given pools (style -> voices) to `"test"` or `"train"`, once, balancing each pool:
    small pools first, each new voice going to the split that holds fewer of that pool's voices (test on a tie)."""
    assign: dict[str, str] = {}
    for style in sorted(pools, key=lambda s: (len(set(pools[s])), s)):
        pool = list(dict.fromkeys(pools[style]))
        counts = Counter(assign[v] for v in pool if v in assign)
        for voice in pool:
            if voice in assign:
                continue
            split = "test" if counts["test"] <= counts["train"] else "train"
            assign[voice] = split
            counts[split] += 1
    return assign


def pick_voice_key(renderer, style: str, base_key: str, allowed: set | None = None,
                   avoid: set | None = None) -> tuple[str, str]:
    """A voice key for `renderer.voice(style, key)`: `base_key` itself when its voice is allowed and not to be
    avoided, else the first of `base_key~1`, `base_key~2`, ... that is (a deterministic search, so a rerun finds the same
    key, and styles that share a pool find the same voice). When every allowed voice is to be avoided, the first
    allowed one is returned (a repeat). Returns (key, voice)."""
    avoid = avoid or set()
    fallback = None
    for i in range(_MAX_KEY_TRIES):
        key = base_key if i == 0 else f"{base_key}~{i}"
        voice = renderer.voice(style, key)
        if allowed is not None and voice not in allowed:
            continue
        if voice not in avoid:
            return key, voice
        if fallback is None:
            fallback = (key, voice)
    if fallback is not None:
        return fallback
    raise RuntimeError(f"no voice key of {base_key!r} gives a {style} voice among {sorted(allowed or ())}")


class VoicePlan:
    """Which voices each (style, split) may use."""

    def __init__(self, renderer, styles: set[str], enabled: bool):
        self.allowed: dict[tuple[str, str], set] = {}
        self.unavailable: list[str] = []
        self.split_voices: dict[str, list[str]] | None = None
        self.note = ""
        self.effective = False
        if not enabled:
            self.note = "voice_split is off"
            return
        if not callable(getattr(renderer, "voices", None)):
            self.note = f"the renderer {getattr(renderer, 'name', renderer)!r} has no voices(style): no voice split"
            logger.warning("voice_split ignored: %s lists no voice pools (no voices(style) method), so the test and "
                           "train splits may share voices", getattr(renderer, "name", type(renderer).__name__))
            return
        pools = {}
        for style in sorted(styles):
            try:
                pools[style] = list(renderer.voices(style))
            except Exception as e:  # noqa: BLE001 - an unknown style fails its clips later, with the reason
                logger.warning("no voice pool for style %r (%s)", style, e)
        assign = assign_voice_splits(pools)
        for style, pool in pools.items():
            for split in ("test", "train"):
                share = {v for v in pool if assign[v] == split}
                self.allowed[(style, split)] = share
            if not self.allowed[(style, "test")] or not self.allowed[(style, "train")]:
                self.unavailable.append(style)
                self.allowed[(style, "test")] = self.allowed[(style, "train")] = set(pool)
        if self.unavailable:
            logger.warning("voice split impossible for style(s) %s (a single voice in the pool): their clips share "
                           "voices between test and train", ", ".join(self.unavailable))
        self.effective = True
        shared = {v for style in self.unavailable for v in pools[style]}
        self.split_voices = {s: sorted(v for v, a in assign.items() if a == s and v not in shared)
                             for s in ("test", "train")}
        self.split_voices["shared"] = sorted(shared)

    def allowed_for(self, style: str, split: str) -> set | None:
        if not self.effective:
            return None
        return self.allowed.get((style, "train" if split == "train" else "test"))
