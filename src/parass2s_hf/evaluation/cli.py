"""`parass2s evaluate` and `parass2s compare`.

```
parass2s evaluate --system omni --model Qwen/Qwen2.5-Omni-7B --config synthetic --output runs/omni
parass2s evaluate --system precomputed --responses my_outputs/ --config all --output runs/mine
parass2s evaluate --system cascade --asr openai/whisper-large-v3 --llm Qwen/Qwen2.5-7B-Instruct --tts espeak-ng \
    --output runs/pipeline
parass2s evaluate recipe.yaml                  # the same arguments from a YAML file
parass2s compare runs/* --output leaderboard   # one leaderboard table and one figure for several runs
```
Judge settings are `JudgeConfig`'s fields prefixed `judge_` (e.g. `--judge_mode reward_model`); `--help` lists all.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..io import FolderLockedError
from .arguments import JudgeArguments, SystemArguments
from .config import EvaluationConfig


def build_parser():
    """The `HfArgumentParser` of an evaluation: `(SystemArguments, EvaluationConfig, JudgeArguments)`."""
    from transformers import HfArgumentParser

    return HfArgumentParser((SystemArguments, EvaluationConfig, JudgeArguments),
                            prog="parass2s evaluate", description="Evaluate a speech-to-speech system on ParaS2SBench.")


def parse_args(argv: list[str] | None = None) -> tuple:
    """Parse command-line arguments (or one YAML file of them) into the three dataclasses."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(argv)


def run_evaluation(system_args: SystemArguments, config: EvaluationConfig, judge_args) -> dict:
    """Build the system and the judge and run the evaluation; returns the report."""
    from ..judge import ParaS2SJudge
    from ..s2s import build_system
    from .runner import EvaluationRunner

    judge_config = judge_args.to_config()
    if judge_config.cache_dir is None:  # perception is reused when the same run folder is judged again
        judge_config.cache_dir = os.path.join(config.output_dir, "perception_cache")
    kwargs = system_args.to_kwargs()
    system = build_system(kwargs.pop("name"), **kwargs)
    return EvaluationRunner(system, ParaS2SJudge(judge_config), config).run()


def evaluate_main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        system_args, config, judge_args = parse_args(argv)
        run_evaluation(system_args, config, judge_args)
    except (ValueError, ImportError, ConnectionError, FolderLockedError) as e:  # bad input, a missing extra, a
        # server that is down, a folder in use:
        print(f"parass2s evaluate: error: {e}", file=sys.stderr)  # one clear line, not a traceback
        return 2
    with open(os.path.join(config.output_dir, "report.md"), encoding="utf-8") as f:
        print(f.read())
    return 0


def compare_main(argv: list[str] | None = None) -> int:
    from .leaderboard import compare_runs

    parser = argparse.ArgumentParser(prog="parass2s compare", description="Leaderboard of several evaluation runs.")
    parser.add_argument("runs", nargs="+", help="run folders (each with report.json)")
    parser.add_argument("--output", default="leaderboard", help="folder for leaderboard.md/.json/.png")
    args = parser.parse_args(argv)
    try:
        result = compare_runs(args.runs, output_dir=args.output)
    except ValueError as e:
        print(f"parass2s compare: error: {e}", file=sys.stderr)
        return 2
    print(result["markdown"])
    return 0
