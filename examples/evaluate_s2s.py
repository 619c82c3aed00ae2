"""Evaluate a speech-to-speech system on ParaS2SBench and write the paper's Table 4 for it.

```
# the style-blind cascade (the paper's Whisper-GPT-TTS baseline) on the full synthetic benchmark
python examples/evaluate_s2s.py --system cascade --asr openai/whisper-large-v3 --llm Qwen/Qwen2.5-7B-Instruct \
    --tts espeak-ng --config synthetic --output runs/cascade

# the same cascade told the true style (the paper's topline)
python examples/evaluate_s2s.py --system cascade --labelled --output runs/topline

# a transformers speech-output model (GPU), or responses made elsewhere (Kimi-Audio, GLM-4-Voice, API voice modes)
python examples/evaluate_s2s.py --system omni --model Qwen/Qwen2.5-Omni-7B --system_device_map auto --output runs/omni
python examples/evaluate_s2s.py --system precomputed --responses my_outputs/ --config all --output runs/mine

# every argument from a YAML file
python examples/evaluate_s2s.py examples/configs/evaluate_cascade_cpu.yaml
```
The judge's settings are `JudgeConfig`'s fields prefixed `judge_` (`--judge_mode`, `--judge_rubric_api_base`, ...).
A run folder is resumable: run the same command again after a crash and only unfinished items are done.
"""

from __future__ import annotations

import os
import sys

from transformers import HfArgumentParser

from parass2s_hf.evaluation import EvaluationConfig, EvaluationRunner
from parass2s_hf.evaluation.arguments import JudgeArguments, SystemArguments
from parass2s_hf.judge import ParaS2SJudge
from parass2s_hf.s2s import build_system


def build_parser() -> HfArgumentParser:
    return HfArgumentParser((SystemArguments, EvaluationConfig, JudgeArguments))


def main(system_args: SystemArguments, config: EvaluationConfig, judge_args) -> dict:
    """Run the evaluation; returns the report (also written to `config.output_dir`)."""
    kwargs = system_args.to_kwargs()
    system = build_system(kwargs.pop("name"), **kwargs)
    judge_config = judge_args.to_config()
    if judge_config.cache_dir is None:
        judge_config.cache_dir = os.path.join(config.output_dir, "perception_cache")
    report = EvaluationRunner(system, ParaS2SJudge(judge_config), config).run()
    with open(os.path.join(config.output_dir, "report.md"), encoding="utf-8") as f:
        print(f.read())
    return report


if __name__ == "__main__":
    parser = build_parser()
    if len(sys.argv) == 2 and sys.argv[1].endswith((".yaml", ".yml")):
        main(*parser.parse_yaml_file(os.path.abspath(sys.argv[1])))
    else:
        main(*parser.parse_args_into_dataclasses())
