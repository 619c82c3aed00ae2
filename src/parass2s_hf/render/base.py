"""The renderer protocol: text + a style -> a 16 kHz waveform.

A renderer speaks query styles (for building the benchmark) and reply styles (for the cascade topline and
RL rewards) with one call. Backends register themselves in `RENDERERS`; `get_renderer("espeak-ng")` builds
one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..audio import LoadedAudio


@runtime_checkable
class Renderer(Protocol):
    """Speaks text in a style.

    Attributes:
        name (`str`): the backend's name, recorded in a benchmark row's `source` field.
    """

    name: str

    def render(self, text: str, style: str, voice_key: str = "") -> LoadedAudio:
        """Speak `text` in `style` (a query or reply style); `voice_key` (e.g. a pair id) picks the voice,
        so that calls with the same key share a speaker. Returns audio from the audio door (16 kHz mono)."""

    def voice(self, style: str, voice_key: str = "") -> str:
        """The voice `render` uses for this style and key, as recorded in a row's `voice` field."""


RENDERERS: dict[str, Callable[..., Renderer]] = {}


def register_renderer(name: str):
    """Class decorator adding a renderer backend to `RENDERERS` under `name`."""

    def wrap(cls):
        RENDERERS[name] = cls
        return cls

    return wrap


def get_renderer(name: str, **kwargs) -> Renderer:
    """Build the renderer called `name` with `kwargs`; `ValueError` listing the known names otherwise."""
    from . import espeak  # noqa: F401 - registers the built-in backend

    if name not in RENDERERS:
        raise ValueError(f"Unknown renderer {name!r}; available renderers: {sorted(RENDERERS)}.")
    return RENDERERS[name](**kwargs)
