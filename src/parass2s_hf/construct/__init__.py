"""Build ParaS2SBench-style data: generate, filter, render, verify, export (paper Part 1), for the benchmark itself,
PolyTone data (the style analyzers' training data) and SFT demonstrations.

```
parass2s build generate --llm <model id | endpoint model> --dimension emotion --n 500 --out work/emo
parass2s build filter   --llm ... --in work/emo
parass2s build render   --tts <espeak-ng | transformers model id | endpoint> --in work/emo
parass2s build verify   --asr openai/whisper-large-v3 --max_wer 0.1 --in work/emo
parass2s build export   --in work/emo --out data/emo [--push_to_hub user/name]
parass2s build all      --recipe examples/configs/build_emotion.yaml
```
Each stage reads the previous stage's file in the work folder and appends its own (`workdir.WorkDir`), so a rerun
skips finished items; `summary.json` says, per stage, how many items went in, came out and were dropped, by reason.
A damaged line of a stage file is an error naming it; `--repair` (on every stage command and `build all`) moves such
lines to `<file>.rejected`, keeps the rest and redoes their items. `--overwrite` is for other settings only.
"""

from .workdir import MODES, STAGES, StageSummary, WorkDir

__all__ = ["MODES", "STAGES", "StageSummary", "WorkDir", "run_recipe"]


def run_recipe(*args, **kwargs):
    """See `parass2s_hf.construct.recipe.run_recipe` (imported lazily: the stages pull in models and renderers)."""
    from .recipe import run_recipe as run

    return run(*args, **kwargs)
