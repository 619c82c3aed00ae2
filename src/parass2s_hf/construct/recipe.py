"""`run_recipe`: every stage of a build in order, from one YAML recipe (`parass2s build all --recipe ...`).

```yaml
work_dir: work/emo
llm: {model: gpt-4.1, api_base: https://api.openai.com/v1}    # generate and filter (key from OPENAI_API_KEY)
generate: {dimension: emotion, n: 500, mode: benchmark}
filter: {}
render: {renderer: openai-speech, renderer_kwargs: {model: gpt-4o-mini-tts}}
verify: {asr: openai/whisper-large-v3, max_wer: 0.1}
export: {out: data/emo}
```
Each section holds the fields of that stage's config (`GenerateConfig`, `FilterConfig`, `RenderConfig`,
`VerifyConfig`, `ExportConfig`); a stage without a section is skipped. Every stage resumes, so running the recipe
again after an interruption finishes the job without redoing anything; `repair` (`build all --repair`) moves the
damaged lines of the stage files to `<file>.rejected` and redoes their items (see `WorkDir`).
"""

from __future__ import annotations

import os
from typing import Any

from ..io import read_yaml
from .workdir import STAGES, WorkDir

RECIPE_KEYS = ("work_dir", "llm", *STAGES)
LLM_KEYS = ("model", "api_base", "api_key_env", "temperature", "max_retries", "seed", "batch_size")


def load_recipe(path: str | os.PathLike) -> dict:
    """Read a YAML recipe and check its keys.

    Raises:
        `ValueError`: naming the file: missing, not valid YAML (with the line), not a mapping, or bad keys.
    """
    recipe = read_yaml(path, "recipe") or {}
    return check_recipe(recipe, where=os.fspath(path))


def check_recipe(recipe: dict, where: str = "recipe") -> dict:
    """Check a recipe's keys and section types; returns it.

    Raises:
        `ValueError`: naming `where` and the key at fault.
    """
    if not isinstance(recipe, dict):  # a bad recipe is bad input (ValueError), reported as one line
        raise ValueError(  # noqa: TRY004
            f"{where}: a recipe is a mapping of {list(RECIPE_KEYS)}, got a {type(recipe).__name__}.")
    unknown = sorted((k for k in recipe if k not in RECIPE_KEYS), key=str)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {list(RECIPE_KEYS)}.")
    if not recipe.get("work_dir") or not isinstance(recipe["work_dir"], (str, os.PathLike)):
        raise ValueError(f"{where}: set work_dir, the build's work folder (a path), got {recipe.get('work_dir')!r}.")
    for key in ("llm", *STAGES):
        if recipe.get(key) is not None and not isinstance(recipe[key], dict):
            raise ValueError(f"{where}: {key} must be a mapping of settings ({{}} for the defaults), got a "
                             f"{type(recipe[key]).__name__}: {str(recipe[key])[:80]!r}.")
    llm = recipe.get("llm") or {}
    bad = sorted((k for k in llm if k not in LLM_KEYS), key=str)
    if bad:
        raise ValueError(f"{where}: unknown llm key(s) {bad}; expected some of {list(LLM_KEYS)}.")
    if (recipe.get("generate") is not None or recipe.get("filter") is not None) and not llm.get("model"):
        raise ValueError(f"{where}: the generate and filter stages need llm.model.")
    return recipe


def _config(cls, section: dict, stage: str):
    try:
        return cls(**(section or {}))
    except TypeError as e:
        fields = sorted(cls.__dataclass_fields__)
        raise ValueError(f"recipe section {stage!r}: {e}; its fields are {fields}.") from None


def run_recipe(recipe: dict, *, stages: list[str] | None = None, overwrite: bool = False, repair: bool = False,
               llm: Any = None, renderer: Any = None, asr: Any = None) -> dict:
    """Run the recipe's stages in order; returns `{stage: summary}` (also in `<work_dir>/summary.json`).

    Args:
        recipe (`dict`): see the module docstring (`load_recipe` reads one from YAML).
        stages (`list[str]`, *optional*): only these stages (in pipeline order).
        overwrite (`bool`, *optional*, defaults to `False`): redo stages whose settings changed.
        repair (`bool`, *optional*, defaults to `False`): move the damaged lines of the stage files (not JSON, or a
            record without the fields the stages need) to `<file>.rejected`, keep the rest and redo their items,
            instead of refusing them (see `WorkDir`).
        llm, renderer, asr (*optional*): ready backends instead of building them from the recipe (how tests inject
            scripted ones, and how one loaded model serves several builds).
    """
    from .export import ExportConfig, run_export
    from .filter import FilterConfig, run_filter
    from .generate import GenerateConfig, run_generate
    from .render_stage import RenderConfig, run_render
    from .verify import VerifyConfig, run_verify

    recipe = check_recipe(dict(recipe) if isinstance(recipe, dict) else recipe)
    unknown = sorted(set(stages or ()) - set(STAGES))
    if unknown:
        raise ValueError(f"stages {unknown} are not stages of a build; expected some of {list(STAGES)}.")
    wanted = [s for s in STAGES if recipe.get(s) is not None and (stages is None or s in stages)]
    work = WorkDir(recipe["work_dir"], repair=repair)
    if llm is None and {"generate", "filter"} & set(wanted):
        from .llm import make_llm

        llm = make_llm(**recipe["llm"])
    out = {}
    for stage in wanted:
        section = recipe[stage] or {}
        if stage == "generate":
            out[stage] = run_generate(work, _config(GenerateConfig, section, stage), llm, overwrite=overwrite)
        elif stage == "filter":
            out[stage] = run_filter(work, _config(FilterConfig, section, stage), llm, overwrite=overwrite)
        elif stage == "render":
            out[stage] = run_render(work, _config(RenderConfig, section, stage), renderer, overwrite=overwrite)
        elif stage == "verify":
            out[stage] = run_verify(work, _config(VerifyConfig, section, stage), asr, overwrite=overwrite)
        else:
            out[stage] = run_export(work, _config(ExportConfig, section, stage), overwrite=overwrite)
    return out
