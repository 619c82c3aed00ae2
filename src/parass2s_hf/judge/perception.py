"""Perception cache: each distinct clip is transcribed, described and classified once.

Keys are the SHA-256 of the clip's 16 kHz samples plus what produced the value (stage, model, prompt version,
budget), so a GRPO group of 8 responses to one query transcribes the query once, and a rerun with a disk cache
(`JudgeConfig.cache_dir`) perceives nothing twice. The disk cache is an append-only JSONL file: a crash loses at
most the line being written, and a torn last line is skipped on reading.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence

import numpy as np

from ..io import read_jsonl
from .prompts import PROMPT_VERSION

CACHE_FILE = "perception.jsonl"


def clip_key(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()[:32]


class PerceptionCache:
    """In-memory cache of perception outputs, optionally mirrored to `cache_dir/perception.jsonl`."""

    def __init__(self, cache_dir: str | None = None):
        self.values: dict[str, object] = {}
        self.path = os.path.join(cache_dir, CACHE_FILE) if cache_dir else None
        self.hits = 0
        if self.path and os.path.isfile(self.path):
            # A line torn by a crash is skipped: its value is perceived again.
            for entry in read_jsonl(self.path, "perception cache", required=("k",), skip_damaged=True):
                self.values[entry["k"]] = entry.get("v")

    def _put(self, key: str, value) -> None:
        self.values[key] = value
        if self.path:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"k": key, "v": value}) + "\n")

    def run(self, stage: str, clips: Sequence[np.ndarray], compute: Callable[[list], list]) -> list:
        """Values of `stage` for `clips`, calling `compute` once on the distinct clips not cached yet. A value that is
        an exception (a served request that failed) is returned but not cached.

        `stage` names what produces the value (e.g. `"asr|openai/whisper-large-v3|128"`); the prompt version is added.
        """
        keys = [f"{stage}|{PROMPT_VERSION}|{clip_key(c)}" for c in clips]
        todo, seen = [], set()
        for key, clip in zip(keys, clips):
            if key not in self.values and key not in seen:
                todo.append((key, clip))
                seen.add(key)
        self.hits += len(keys) - len(todo)
        failed = {}
        if todo:
            for (key, _), value in zip(todo, compute([c for _, c in todo])):
                if isinstance(value, Exception):  # a served request that failed: asked again next time, never cached
                    failed[key] = value
                else:
                    self._put(key, value)
        return [failed[k] if k in failed else self.values[k] for k in keys]
