"""`parass2s_policy.json`: how a trained policy hears and speaks, saved beside its weights.

The SFT script (in its merged model) and `ParaS2SGRPOTrainer` (in its output folder, beside the adapter) write the
system prompt, the renderer and its voice, and the sampling settings of training. The `policy` system under test reads
them, so a policy is evaluated with the very prompt and voice it was trained with, not with defaults that may differ.

```json
{"system_prompt": "You are a voice assistant ...", "renderer": "espeak-ng", "renderer_kwargs": {},
 "voice_key": "assistant", "max_new_tokens": 128, "temperature": 1.0, "top_p": 1.0, "top_k": 0}
```
"""

from __future__ import annotations

import os

POLICY_SETTINGS_FILE = "parass2s_policy.json"
KEYS = ("system_prompt", "renderer", "renderer_kwargs", "voice_key", "max_new_tokens", "temperature", "top_p",
        "top_k")


def write_policy_settings(folder: str | os.PathLike, *, system_prompt: str | None, renderer: str = "espeak-ng",
                          renderer_kwargs: dict | None = None, voice_key: str = "assistant",
                          max_new_tokens: int | None = None, temperature: float | None = None,
                          top_p: float | None = None, top_k: int | None = None) -> str:
    """Write `folder/parass2s_policy.json`; returns its path."""
    from ..io import write_json

    path = os.path.join(os.fspath(folder), POLICY_SETTINGS_FILE)
    write_json(path, {"system_prompt": system_prompt, "renderer": renderer, "renderer_kwargs": renderer_kwargs or {},
                      "voice_key": voice_key, "max_new_tokens": max_new_tokens, "temperature": temperature,
                      "top_p": top_p, "top_k": top_k})
    return path


def read_policy_settings(*folders: str | os.PathLike | None) -> dict:
    """The settings in the first of `folders` (an adapter's, then its base model's) that has the file; `{}` when none
    has (a base model never trained here: the package's defaults apply).

    Raises:
        `ValueError`: the file is damaged or holds unknown keys (named).
    """
    from ..io import read_json

    for folder in folders:
        if folder and os.path.isfile(os.path.join(os.fspath(folder), POLICY_SETTINGS_FILE)):
            path = os.path.join(os.fspath(folder), POLICY_SETTINGS_FILE)
            settings = read_json(path, "policy settings file")
            if not isinstance(settings, dict) or set(settings) - set(KEYS):
                raise ValueError(f"{path}: expected a JSON object with some of {list(KEYS)}, got "
                                 f"{sorted(settings) if isinstance(settings, dict) else type(settings).__name__}.")
            return {**settings, "source": path}
    return {}
