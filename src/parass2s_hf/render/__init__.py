"""Speech rendering: text + a style -> a 16 kHz waveform, and the `[style: ...]` reply format."""

from . import openai_speech, resolve, transformers_tts  # noqa: F401 - registers "openai-speech", "transformers"
from .base import RENDERERS, Renderer, get_renderer, register_renderer
from .espeak import EspeakRenderer
from .reply_format import DEFAULT_REPLY_STYLE, format_reply, parse_reply
from .styles import STYLE_PROSODY, VOICE_POOLS, Prosody, choose_voice, get_prosody, prosody_table_markdown

__all__ = [
    "DEFAULT_REPLY_STYLE",
    "RENDERERS",
    "STYLE_PROSODY",
    "VOICE_POOLS",
    "EspeakRenderer",
    "Prosody",
    "Renderer",
    "choose_voice",
    "format_reply",
    "get_prosody",
    "get_renderer",
    "parse_reply",
    "prosody_table_markdown",
    "register_renderer",
]
