"""Evaluate a speech-to-speech system on ParaS2SBench and write the paper's Table 4 for it.

```
# the style-blind cascade (the paper's Whisper-GPT-TTS baseline) on the full synthetic benchmark
python examples/evaluate_s2s.py --system cascade --asr openai/whisper-large-v3 --llm Qwen/Qwen2.5-7B-Instruct \
    --tts espeak-ng --dataset_config synthetic --output runs/cascade

# the same cascade told the true style (the paper's topline)
python examples/evaluate_s2s.py --system cascade --labelled --output runs/topline

# a transformers speech-output model (GPU), or responses made elsewhere (Kimi-Audio, GLM-4-Voice, API voice modes)
python examples/evaluate_s2s.py --system omni --model Qwen/Qwen2.5-Omni-7B --system_device_map auto --output runs/omni
python examples/evaluate_s2s.py --system precomputed --responses my_outputs/ --dataset_config all --output runs/mine

# every argument from a YAML file
python examples/evaluate_s2s.py --config examples/configs/evaluate_cascade.yaml
```
The judge's settings are `JudgeConfig`'s fields prefixed `judge_` (`--judge_mode`, `--judge_rubric_api_base`, ...).
A run folder is resumable: run the same command again after a crash and only unfinished items are done.
This script is `parass2s evaluate` (`parass2s_hf.evaluation.cli`): the same arguments, checks and exit codes.
"""

from __future__ import annotations

import sys

from parass2s_hf.evaluation.cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main())
