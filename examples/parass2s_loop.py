"""ParaS2SAlign end to end, in the paper's order, from one YAML recipe: base -> SFT -> GRPO, and the table of the three.

1. **sft**: the warm-up SFT on demonstrations (`examples/train_sft.py`), merged into the base.
2. **sample**: the SFT policy answers the train prompts `num_samples` times (`parass2s evaluate --system policy`), and
   the teacher judge scores every spoken answer.
3. **distill**: the reward model learns those scores (`examples/train_reward_model.py --run_dir`): the teacher pairs are
   the policy's own samples, as in the paper.
4. **grpo**: GRPO from the SFT model with the distilled reward model as the reward (`examples/train_grpo.py`).
5. **evaluate**: base, SFT and GRPO policies on the same test config, with the same (table) judge.
6. **compare**: the leaderboard of the three (`parass2s compare`): `<work_dir>/leaderboard/leaderboard.md`.

    python -m parass2s_hf.testing tiny/                                   # the CPU recipe's tiny checkpoints
    python examples/parass2s_loop.py --config examples/configs/loop_cpu_smoke.yaml     # CPU, a few minutes
    python examples/parass2s_loop.py --config examples/configs/loop_gpu.yaml           # GPU, real checkpoints

Each stage runs as its own process (the commands are printed, so any one can be rerun by hand) and writes into the
folder the recipe names, under `work_dir`. A stage whose output is complete is skipped on a rerun, and the stages
that resume by themselves (evaluation runs) pick up where they stopped; `--stages` runs some only, `--redo` redoes
some. Wall time per stage: `<work_dir>/loop.json`.

Recipe keys (see `examples/configs/loop_cpu_smoke.yaml`): `work_dir`, `base_model`, `train` and `test` (the prompts:
`config`, `split`, `limit`), `judge` (teacher and table judge: `JudgeConfig` fields), and per stage its `output_dir`
(relative to `work_dir`), the script's own YAML (`config`) and more of its arguments (`args`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

from parass2s_hf.io import read_yaml, write_json

STAGES = ("sft", "sample", "distill", "grpo", "evaluate", "compare")
POLICIES = ("base", "sft", "grpo")
EXAMPLES = os.path.dirname(os.path.abspath(__file__))
PARASS2S = [sys.executable, "-m", "parass2s_hf.cli"]  # the `parass2s` command of this very environment
RECIPE_KEYS = ("work_dir", "base_model", "train", "test", "judge", *STAGES)


def load_recipe(path: str) -> dict:
    """Read and check a loop recipe; relative paths of outputs are made relative to `work_dir`.

    Raises:
        `ValueError`: naming the file and the key at fault.
    """
    recipe = read_yaml(path, "loop recipe") or {}
    if not isinstance(recipe, dict):
        raise ValueError(f"{path}: a loop recipe is a mapping of {list(RECIPE_KEYS)}.")  # noqa: TRY004
    unknown = sorted(k for k in recipe if k not in RECIPE_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; expected some of {list(RECIPE_KEYS)}.")
    for key in ("work_dir", "base_model"):
        if not isinstance(recipe.get(key), str) or not recipe[key]:
            raise ValueError(f"{path}: set {key} (a path or model id).")
    for key in ("train", "test", "judge", *STAGES):
        if not isinstance(recipe.setdefault(key, {}), dict):
            raise ValueError(  # noqa: TRY004 - a bad recipe is bad input, reported as one line
                f"{path}: {key} must be a mapping, got {type(recipe[key]).__name__}.")
    defaults = {"sft": "sft", "sample": "sample", "distill": "reward_model", "grpo": "grpo", "compare": "leaderboard"}
    for stage, folder in defaults.items():
        recipe[stage]["output_dir"] = os.path.join(recipe["work_dir"], recipe[stage].get("output_dir", folder))
    runs = recipe["evaluate"].get("output_dirs") or {}
    recipe["evaluate"]["output_dirs"] = {p: os.path.join(recipe["work_dir"], runs.get(p, f"eval_{p}"))
                                         for p in POLICIES}
    return recipe


def _flags(args: dict) -> list[str]:
    """`{"max_steps": 2, "judge_config": {...}}` -> `["--max_steps", "2", "--judge_config", "{...}"]`."""
    out = []
    for key, value in args.items():
        if value is None:
            continue
        out += [f"--{key}", json.dumps(value) if isinstance(value, (dict, list)) else str(value).lower()
                if isinstance(value, bool) else str(value)]
    return out


def _judge_flags(judge: dict) -> list[str]:
    return _flags({f"judge_{key}": value for key, value in judge.items()})


def _script(name: str, section: dict) -> list[str]:
    command = [sys.executable, os.path.join(EXAMPLES, name)]
    return command + (["--config", section["config"]] if section.get("config") else [])


def _evaluate(recipe: dict, model: str, output: str, label: str, split_of: str, extra: dict,
              adapter: str | None = None) -> list[str]:
    prompts = recipe[split_of]
    return [*PARASS2S, "evaluate", "--system", "policy", "--model", model,
            *(["--adapter", adapter] if adapter else []), "--dataset_config", prompts.get("config", "sample"),
            "--split", prompts.get("split", "test"), *(_flags({"limit": prompts["limit"]}) if prompts.get("limit")
                                                       else []),
            "--label", label, "--output", output, *_flags(extra), *_judge_flags(recipe["judge"])]


def stage_commands(recipe: dict) -> dict[str, list[tuple[list[str], str]]]:
    """Per stage, its commands and, for each, the file whose presence means it is done."""
    base, train = recipe["base_model"], recipe["train"]
    sft_dir = recipe["sft"]["output_dir"]
    merged = os.path.join(sft_dir, "merged")
    prompts = {"dataset_config": train.get("config", "sample"), "dataset_split": train.get("split", "test"),
               "limit": train.get("limit")}
    sample, distill, grpo = recipe["sample"], recipe["distill"], recipe["grpo"]
    commands = {
        "sft": [([*_script("train_sft.py", recipe["sft"]), "--model_name_or_path", base, *_flags(prompts),
                  "--output_dir", sft_dir, "--merge_output_dir", merged, *_flags(recipe["sft"].get("args", {}))],
                 os.path.join(merged, "config.json"))],
        "sample": [(_evaluate(recipe, merged, sample["output_dir"], "sft-samples", "train",
                              {"num_samples": sample.get("num_samples", 4), "temperature": sample.get("temperature", 1.0),
                               **sample.get("args", {})}),
                    os.path.join(sample["output_dir"], "report.json"))],
        "distill": [([*_script("train_reward_model.py", distill), "--model_name_or_path", base,
                      "--run_dir", sample["output_dir"], "--dataset_config", prompts["dataset_config"],
                      "--dataset_split", prompts["dataset_split"], "--output_dir", distill["output_dir"],
                      *_flags(distill.get("args", {}))],
                     os.path.join(distill["output_dir"], "reward_model_report.json"))],
        "grpo": [([*_script("train_grpo.py", grpo), "--model_name_or_path", merged, *_flags(prompts),
                   "--output_dir", grpo["output_dir"], "--judge_config", "@distilled",
                   *_flags(grpo.get("args", {}))],
                  os.path.join(grpo["output_dir"], "adapter_config.json"))],
        "evaluate": [],
        "compare": [([*PARASS2S, "compare", *recipe["evaluate"]["output_dirs"].values(), "--output",
                      recipe["compare"]["output_dir"]], None)],
    }
    extra = recipe["evaluate"].get("args", {})
    policies = {"base": (base, None), "sft": (merged, None), "grpo": (merged, grpo["output_dir"])}
    for name, (model, adapter) in policies.items():
        output = recipe["evaluate"]["output_dirs"][name]
        commands["evaluate"].append((_evaluate(recipe, model, output, name, "test", extra, adapter),
                                     os.path.join(output, "report.json")))
    return commands


def _distilled_judge(recipe: dict) -> str:
    """The judge that loads the distilled reward model: the `judge_config` of its report."""
    path = os.path.join(recipe["distill"]["output_dir"], "reward_model_report.json")
    with open(path, encoding="utf-8") as f:
        return json.dumps({**json.load(f)["judge_config"], **recipe["grpo"].get("judge", {})})


def run(recipe: dict, stages=None, redo=(), dry_run: bool = False) -> dict:
    """Run the recipe's stages in order, skipping the finished ones; returns `{stage: {"seconds", "skipped"}}`."""
    timings_path = os.path.join(recipe["work_dir"], "loop.json")
    timings = {}
    if os.path.exists(timings_path):
        with open(timings_path, encoding="utf-8") as f:
            timings = json.load(f)
    for stage, commands in stage_commands(recipe).items():
        if stages and stage not in stages:
            continue
        started, ran = time.perf_counter(), False
        for command, done in commands:
            if done and os.path.exists(done) and stage not in redo:
                print(f"[{stage}] done: {done}", flush=True)
                continue
            command = [_distilled_judge(recipe) if part == "@distilled" else part for part in command] \
                if not dry_run else command
            print(f"[{stage}] {shlex.join(command)}", flush=True)
            if dry_run:
                continue
            code = subprocess.run(command, check=False).returncode
            if code:  # the stage said why, above
                print(f"parass2s_loop: stage {stage} stopped (exit {code}); after the fix, run the same command "
                      f"again: the finished stages are skipped.", file=sys.stderr)
                raise SystemExit(code)
            ran = True
        if ran:
            timings[stage] = {"seconds": round(time.perf_counter() - started, 1)}
            write_json(timings_path, timings)
    leaderboard = os.path.join(recipe["compare"]["output_dir"], "leaderboard.md")
    if os.path.exists(leaderboard) and not dry_run:  # `parass2s compare` printed the table above
        print(f"leaderboard: {leaderboard}; wall time per stage: {timings_path}")
    return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the loop recipe (YAML)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, help="run only these stages")
    parser.add_argument("--redo", nargs="+", choices=STAGES, default=(), help="redo these stages even if done")
    parser.add_argument("--dry_run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    try:
        recipe = load_recipe(args.config)
    except ValueError as e:
        print(f"parass2s_loop: error: {e}", file=sys.stderr)
        return 2
    if not args.dry_run:
        from parass2s_hf.models import ModelCheck, PreflightError, judge_checks, preflight

        try:  # what exists before the loop starts: the base and the judge (the later stages check their own inputs)
            preflight([ModelCheck("base_model", recipe["base_model"], "audio_llm"),
                       *judge_checks(recipe["judge"], prefix="judge.")])
        except PreflightError as e:
            print(f"parass2s_loop: error: {e}", file=sys.stderr)
            return 2
    os.makedirs(recipe["work_dir"], exist_ok=True)
    run(recipe, args.stages, args.redo, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
