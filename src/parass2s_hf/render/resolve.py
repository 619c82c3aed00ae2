"""One string -> a renderer: what `parass2s build render --tts ...` accepts.

| spec | renderer |
|---|---|
| a registered name: `espeak-ng`, `transformers` (with `model=`), `openai-speech` | that backend, built with the kwargs |
| `openai-speech:<model>` (e.g. `openai-speech:gpt-4o-mini-tts`) | `OpenAISpeechRenderer(model=<model>)` |
| `http://...` or `https://...` (an OpenAI-compatible server) | `OpenAISpeechRenderer(api_base=<url>)` |
| `transformers:<model>`, a local folder, or a Hub id `org/name` | `TransformersTTSRenderer(<model>)` |

```python
>>> resolve_renderer("facebook/mms-tts-eng").name
'transformers:mms-tts-eng'
>>> resolve_renderer("openai-speech:gpt-4o-mini-tts", api_base="http://localhost:8000/v1").name
'openai-speech:gpt-4o-mini-tts'
```
"""

from __future__ import annotations

import os
import re

from .base import RENDERERS, Renderer

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
ACCEPTED_FORMS = ("a registered renderer name", "openai-speech:<model>", "an http(s):// OpenAI-compatible endpoint",
                  "transformers:<model>", "a local model folder", "a Hub id org/name")


def _register_all() -> None:
    from . import espeak, openai_speech, transformers_tts  # noqa: F401 - each registers its backend


def resolve_renderer(spec: str, **kwargs) -> Renderer:
    """Build the renderer a string names (see the module docstring for the forms).

    Args:
        spec (`str`): the renderer.
        **kwargs: arguments of the renderer's constructor (e.g. `device=`, `api_key_env=`, `voices=`).

    Raises:
        `ValueError`: an unknown spec (the message lists the registered renderers and the accepted forms), or one the
            renderer refuses (e.g. a model that is not a text-to-speech checkpoint).
    """
    _register_all()
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"Empty renderer spec {spec!r}; give {', '.join(ACCEPTED_FORMS)} "
                         f"(registered: {sorted(RENDERERS)}).")
    spec = spec.strip()
    if spec in RENDERERS:
        if spec == "transformers" and "model" not in kwargs:
            raise ValueError("The transformers renderer needs a model: resolve_renderer('transformers', model=...) or "
                             "give the model itself (a Hub id org/name or a local folder).")
        return RENDERERS[spec](**kwargs)
    prefix, _, rest = spec.partition(":")
    if prefix == "openai-speech" and rest:
        return RENDERERS["openai-speech"](model=rest, **kwargs)
    if prefix in ("http", "https") and rest.startswith("//"):
        return RENDERERS["openai-speech"](api_base=spec, **kwargs)
    if prefix == "transformers" and rest:
        return RENDERERS["transformers"](rest, **kwargs)
    if os.path.isdir(spec) or _HUB_ID.match(spec):
        return RENDERERS["transformers"](spec, **kwargs)
    raise ValueError(f"Unknown renderer {spec!r}. Registered renderers: {sorted(RENDERERS)}; also accepted: "
                     f"{', '.join(ACCEPTED_FORMS[1:])}.")
