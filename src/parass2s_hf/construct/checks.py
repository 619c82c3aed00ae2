"""The start-up checks of `parass2s build`: every model and endpoint a stage (or a whole recipe) will use, checked
from config files and one cheap request before any record is generated, rendered or verified.

A problem is one line naming the setting, the value and the fix (`parass2s_hf.models.preflight`); all of them are
reported at once.
"""

from __future__ import annotations

import os
import re

from ..constants import STYLES

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TTS_BUILTINS = ("espeak-ng",)


def llm_checks(model: str | None, api_base: str | None = None, api_key_env: str = "OPENAI_API_KEY",
               setting: str = "--llm", url_setting: str = "--llm_api_base", trust_remote_code: bool = False) -> list:
    """The check of the generate and filter stages' LLM: its endpoint when `api_base` is set, else the local chat
    model's config."""
    from ..models import EndpointCheck, ModelCheck

    if api_base:
        return [EndpointCheck(url_setting, api_base, model, api_key_env, "LLM", model_setting=setting)]
    return [ModelCheck(setting, model, "text_llm", trust_remote_code)]


def tts_checks(renderer: str | None, renderer_kwargs: dict | None = None, setting: str = "--tts") -> list:
    """The check of the render stage's renderer: a transformers text-to-speech checkpoint's config, or an
    `openai-speech` endpoint (its key, and one request when it is not OpenAI's own); espeak-ng needs none."""
    from ..models import EndpointCheck, ModelCheck

    kwargs = dict(renderer_kwargs or {})
    spec = (renderer or "").strip()
    if not spec or spec in _TTS_BUILTINS:
        return []
    prefix, _, rest = spec.partition(":")
    if spec == "openai-speech" or (prefix == "openai-speech" and rest) or \
            (prefix in ("http", "https") and rest.startswith("//")):
        api_base = spec if prefix in ("http", "https") else kwargs.get("api_base")
        model = rest if prefix == "openai-speech" else kwargs.get("model", "gpt-4o-mini-tts")
        # OpenAI's own server lists thousands of models, none of them needed to speak: check the key only there
        return [EndpointCheck(setting, api_base, model, kwargs.get("api_key_env", "OPENAI_API_KEY"), "TTS",
                              probe=bool(api_base))]
    model = rest if prefix == "transformers" and rest else kwargs.get("model") if spec == "transformers" else spec
    if model and (os.path.isdir(model) or _HUB_ID.match(model) or prefix == "transformers"):
        return [ModelCheck(setting, model, "tts", bool(kwargs.get("trust_remote_code", False)))]
    return []  # another registered renderer: it checks its own settings when built


def verify_checks(asr: str | None, analyzers: dict | None = None, asr_setting: str = "--asr",
                  analyzer_setting: str = "--analyzer") -> list:
    """The checks of the verify stage: the ASR model, and each style analyzer with its dimension's styles as labels."""
    from ..models import ModelCheck

    checks = [ModelCheck(asr_setting, asr, "asr")] if asr else []
    for dim, path in (analyzers or {}).items():
        if dim not in STYLES:
            raise ValueError(f"{analyzer_setting} {dim}={path}: unknown dimension {dim!r}; expected one of "
                             f"{list(STYLES)}.")
        checks.append(ModelCheck(f"{analyzer_setting} {dim}", path, "audio_classifier",
                                 labels=tuple(STYLES[dim]), labels_name=f"{dim} styles"))
    return checks


def recipe_checks(recipe: dict, stages: list[str] | None = None) -> list:
    """The checks of every stage a recipe will run (`parass2s build all`), spelt as the recipe's keys."""
    wanted = {s for s in ("generate", "filter", "render", "verify") if recipe.get(s) is not None
              and (stages is None or s in stages)}
    checks = []
    if wanted & {"generate", "filter"}:
        llm = recipe.get("llm") or {}
        checks += llm_checks(llm.get("model"), llm.get("api_base"), llm.get("api_key_env", "OPENAI_API_KEY"),
                             setting="llm.model", url_setting="llm.api_base",
                             trust_remote_code=bool(llm.get("trust_remote_code", False)))
    if "render" in wanted:
        section = recipe["render"] or {}
        checks += tts_checks(section.get("renderer", "espeak-ng"), section.get("renderer_kwargs"),
                             setting="render.renderer")
    if "verify" in wanted:
        section = recipe["verify"] or {}
        checks += verify_checks(section.get("asr", "openai/whisper-large-v3"), section.get("analyzers"),
                                asr_setting="verify.asr", analyzer_setting="verify.analyzers")
    return checks
