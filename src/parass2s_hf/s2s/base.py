"""The protocol of a speech-to-speech system under test, and the registry of system types.

A system turns benchmark rows (each holding the spoken query) into spoken responses. The evaluation runner
(`parass2s_hf.evaluation`) calls `respond` on batches, writes each response's audio to the run folder and judges
it; a system never scores itself.

```python
>>> from parass2s_hf.s2s import build_system
>>> system = build_system("precomputed", responses="my_outputs/")
>>> [response] = system.respond([row])           # row: a ParaS2SBench row with "audio" decoded
>>> response.audio.shape, response.sampling_rate, response.text
```
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass
class S2SResponse:
    """What a system answered to one row.

    Attributes:
        audio (`np.ndarray` or `None`): the spoken response, mono or (channels, samples) / (samples, channels), any
            sample rate (the runner converts it through the audio door). `None` when the system failed (see `error`).
        sampling_rate (`int` or `None`): rate of `audio`.
        text (`str` or `None`): the response's words, when the system has them (cascade reply, Omni thinker text).
        error (`str` or `None`): why the system gave no response for this row; the runner records it and goes on.
        info (`dict`): anything else worth keeping with the result (e.g. the cascade's reply style, the ASR transcript
            of the query). Must be JSON-serialisable.
    """

    audio: np.ndarray | None
    sampling_rate: int | None
    text: str | None = None
    error: str | None = None
    info: dict = field(default_factory=dict)


@runtime_checkable
class S2SSystem(Protocol):
    """A speech-to-speech system under test.

    Attributes:
        name (`str`): the system type's registry name (`"precomputed"`, `"cascade"`, `"omni"`, `"openai-audio"`).
    """

    name: str

    def config(self) -> dict:
        """Every setting that changes the responses (model ids, prompts, decoding, voice), JSON-serialisable. The
        runner fingerprints it (`system_fingerprint`) to key finished items and to refuse reusing a run folder made
        with other settings. Never holds secrets (API keys)."""

    def respond(self, rows: Sequence[dict], sample_index: int = 0) -> list[S2SResponse]:
        """One `S2SResponse` per row, in order.

        Args:
            rows: benchmark rows (the fields of `parass2s_hf.bench.features.FEATURES`); `row["audio"]` is a dict
                `{"array": float32 mono np.ndarray at 16 kHz, "sampling_rate": 16000}`.
            sample_index (`int`, *optional*, defaults to `0`): which of the `num_samples` responses per query is asked
                for; sampling systems seed their decoding with it, so that each sample is reproducible.

        A failure confined to one row is returned as `S2SResponse(audio=None, sampling_rate=None, error=...)`; an
        exception fails the batch, after which the runner retries the rows one by one to find the failing one.
        """


SYSTEMS: dict[str, Callable[..., S2SSystem]] = {}


def register_system(name: str):
    """Class decorator: make a system type buildable by name (`build_system(name, **kwargs)`)."""

    def wrap(cls):
        SYSTEMS[name] = cls
        cls.name = name
        return cls

    return wrap


def build_system(name: str, **kwargs: Any) -> S2SSystem:
    """Build a registered system type by name.

    Raises:
        `ValueError`: an unknown name (naming the known ones).
    """
    from . import cascade, omni, openai_audio, policy, precomputed  # noqa: F401  (register the built-in types)

    if name not in SYSTEMS:
        raise ValueError(f"Unknown system {name!r}; expected one of {sorted(SYSTEMS)}.")
    return SYSTEMS[name](**kwargs)


def system_fingerprint(system: S2SSystem) -> str:
    """A stable hash of a system's type and `config()`: the key of its responses in a run folder."""
    payload = json.dumps({"system": system.name, **system.config()}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
