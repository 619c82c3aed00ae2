"""Build ParaS2SBench-style data from Python: every stage of a recipe, in order (what `parass2s build all` runs).

```
python examples/build_bench.py examples/configs/build_emotion.yaml            # the paper's way (OpenAI endpoints)
python examples/build_bench.py examples/configs/build_polytone_offline.yaml   # local LLM + espeak-ng
python examples/build_bench.py RECIPE --stages render verify export           # some stages only
```
Stages resume: run the same command again after an interruption and only unfinished items are done. The work
folder's `summary.json` gives, per stage, items in, out and dropped by reason.
"""

from __future__ import annotations

import argparse
import json

from parass2s_hf.construct.recipe import load_recipe, run_recipe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe", nargs="?", help="a YAML recipe (see parass2s_hf.construct.recipe)")
    parser.add_argument("--config", dest="recipe_file", metavar="FILE", help="the recipe, as every script takes it")
    parser.add_argument("--stages", nargs="+", help="only these stages")
    parser.add_argument("--overwrite", action="store_true", help="redo stages whose settings changed")
    return parser


def main(recipe_path: str, stages: list[str] | None = None, overwrite: bool = False, **backends) -> dict:
    """Run the recipe; returns the per-stage summaries. `backends` (`llm`, `renderer`, `asr`) replace the ones the
    recipe names (tests inject scripted ones)."""
    summary = run_recipe(load_recipe(recipe_path), stages=stages, overwrite=overwrite, **backends)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    parser = build_parser()
    args = parser.parse_args()
    if not (args.recipe or args.recipe_file):
        parser.error("give the recipe: --config FILE (a YAML recipe)")
    main(args.recipe_file or args.recipe, args.stages, args.overwrite)
