"""Dict-valued settings that also come as JSON strings: the form `HfArgumentParser`/`TrlParser` command lines give
them (TRL's own configs do the same for `model_init_kwargs`)."""

from __future__ import annotations

import json


def json_dict(name: str, value) -> dict:
    """`value` as a dict: a dict as is, a JSON object string parsed, `None` as `{}`.

    Raises:
        `ValueError`: a string that is not valid JSON; `TypeError`: anything else that is not a dict (naming `name`).
    """
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"{name} must be a dict or a JSON object string, got {value!r} ({e}).") from None
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or a JSON object string, got {type(value).__name__}.")
    return value
