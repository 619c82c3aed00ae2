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
    python examples/parass2s_loop.py --config examples/configs/loop_omni_gpu.yaml      # the same with Qwen2.5-Omni

Each stage runs as its own process (the commands are printed, so any one can be rerun by hand) and writes into the
folder the recipe names, under `work_dir`. A stage whose output is complete is skipped on a rerun, and the stages
that resume by themselves (evaluation runs) pick up where they stopped; `--stages` runs some only, `--redo` redoes
some. Wall time per stage: `<work_dir>/loop.json`.

Recipe keys (see `examples/configs/loop_cpu_smoke.yaml`): `work_dir`, `base_model`, `policy` (below), `train` and
`test` (the prompts: `config`, `split`, `limit`), `judge` (teacher and table judge: `JudgeConfig` fields), and per stage
its `output_dir` (relative to `work_dir`), the script's own YAML (`config`) and more of its arguments (`args`);
`distill.model` sets the reward model's base (default: `base_model` for an audio-LLM policy, the distill config's own
`model_name_or_path` for an Omni policy).

**The Omni variant** (`examples/configs/loop_omni_cpu_smoke.yaml`, `examples/configs/loop_omni_gpu.yaml`): when
`base_model` is a Qwen2.5-Omni (its config.json's `model_type`, read from the folder or the Hub cache, or online on a
real run; `policy: omni` says so where it cannot be read, `policy: audio_llm` forces the Qwen2-Audio loop), the same
stages run with the Omni as the policy: `train_sft.py` trains a LoRA on the thinker and merges it into a whole Omni
(`<sft>/merged`); sampling and evaluation are `parass2s evaluate --system omni` (the thinker writes, the talker
speaks), the GRPO policy as `--system omni --model <sft>/merged --adapter <grpo>`; GRPO (`train_grpo.py`) trains a
LoRA on that merged Omni's thinker with the distilled reward model scoring the talker's waveform. The reward model is
an audio LLM (Qwen2-Audio), never the Omni. The talker's voice and `generate` arguments of sampling and evaluation
(`args.voice`, `args.system_generate_kwargs`) must be the GRPO config's (`omni_speaker`, `omni_generate_kwargs`), so the
reward model learns, and the table hears, the speech GRPO is rewarded for: the recipe is refused otherwise.
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
RECIPE_KEYS = ("work_dir", "base_model", "policy", "train", "test", "judge", *STAGES)
POLICY_KINDS = ("audio_llm", "omni")
"""What the loop trains: an audio LLM that writes its reply (`--system policy`), or a Qwen Omni whose thinker writes
and whose talker speaks it (`--system omni`)."""
OMNI_MODEL_TYPES = ("qwen2_5_omni",)
"""The Omni model types the loop trains (`align.sft_omni.OMNI_THINKER_CLASSES`: the SFT warm-up's)."""
SYSTEMS = {"audio_llm": "policy", "omni": "omni"}
"""The `parass2s evaluate --system` of each kind of policy."""


def checkpoint_model_type(model: str, online: bool = False) -> str | None:
    """The `model_type` of a checkpoint's config.json: from its folder, from the Hub cache, or (`online`) downloaded
    alone (a few kB); `None` when it cannot be read. The loop's own reader: importing `align.sft_omni` costs seconds."""
    path = os.path.join(model, "config.json")
    if not os.path.isdir(model):
        try:
            from huggingface_hub import hf_hub_download, try_to_load_from_cache

            path = try_to_load_from_cache(model, "config.json")
            if not isinstance(path, str) and online:
                path = hf_hub_download(model, "config.json")
        except Exception:  # noqa: BLE001 - not a repository id, offline, no network: cannot tell
            return None
    if not isinstance(path, str) or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def policy_kind(recipe: dict, where: str = "the recipe", online: bool = False) -> str:
    """`"omni"` or `"audio_llm"`: the recipe's `policy`, checked against the base's model type where it can be read,
    else the base's model type (`audio_llm` when it cannot be read)."""
    declared = recipe.get("policy")
    if declared is not None and declared not in POLICY_KINDS:
        raise ValueError(f"{where}: policy must be one of {list(POLICY_KINDS)} (or unset: detected from base_model), "
                         f"got {declared!r}.")
    model_type = checkpoint_model_type(recipe["base_model"], online)
    detected = None if model_type is None else "omni" if model_type in OMNI_MODEL_TYPES else "audio_llm"
    if declared and detected and declared != detected:
        raise ValueError(f"{where}: policy is {declared!r}, but base_model {recipe['base_model']!r} is a "
                         f"{model_type!r} checkpoint ({'an Omni' if detected == 'omni' else 'no Omni'}): fix one.")
    return declared or detected or "audio_llm"


def load_recipe(path: str, online: bool = False) -> dict:
    """Read and check a loop recipe; relative paths of outputs are made relative to `work_dir`. `recipe["policy"]` is
    set to the kind of policy (`policy_kind`; `online`: the base's config.json may be downloaded to tell).

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
    recipe["policy"] = policy_kind(recipe, path, online)
    if recipe["policy"] == "omni":
        _check_omni_speech(recipe, path)
    return recipe


def _grpo_settings(recipe: dict) -> dict | None:
    """The GRPO stage's settings: its YAML (`grpo.config`) under the recipe's `grpo.args`; `None` when the YAML is
    not found from here (the stage itself will say so)."""
    settings = {}
    config = recipe["grpo"].get("config")
    if config:
        if not os.path.isfile(config):
            return None
        settings = read_yaml(config, "GRPO config") or {}
    return {**settings, **recipe["grpo"].get("args", {})}


def _check_omni_speech(recipe: dict, where: str) -> None:
    """An Omni's sampling and evaluation speak as GRPO does: the same `voice` (`omni_speaker`) and talker `generate`
    arguments (`omni_generate_kwargs`), or the reward model learns, and the table hears, other speech than GRPO's.

    Raises:
        `ValueError`: naming the stage and the two settings that differ.
    """
    grpo = _grpo_settings(recipe)
    if grpo is None:
        return
    def as_dict(value, name):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError(f"{where}: {name} is not JSON: {value!r}.") from None
        return value

    wanted = {"voice": grpo.get("omni_speaker"),
              "system_generate_kwargs": as_dict(grpo.get("omni_generate_kwargs"), "grpo's omni_generate_kwargs") or None}
    for stage in ("sample", "evaluate"):
        args = recipe[stage].get("args", {})
        for key, value in wanted.items():
            got = args.get(key)
            if key == "system_generate_kwargs":
                got = as_dict(got, f"{stage}.args.system_generate_kwargs")
            if (got or None) != value:
                grpo_key = "omni_speaker" if key == "voice" else "omni_generate_kwargs"
                raise ValueError(f"{where}: {stage}.args.{key} is {got!r}, but the GRPO stage speaks with "
                                 f"{grpo_key} {value!r} ({recipe['grpo'].get('config') or 'grpo.args'}): set them "
                                 f"equal, so the reward model learns and the table hears GRPO's speech.")


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
    return [*PARASS2S, "evaluate", "--system", SYSTEMS[recipe.get("policy") or "audio_llm"], "--model", model,
            *(["--adapter", adapter] if adapter else []), "--dataset_config", prompts.get("config", "sample"),
            "--split", prompts.get("split", "test"), *(_flags({"limit": prompts["limit"]}) if prompts.get("limit")
                                                       else []),
            "--label", label, "--output", output, *_flags(extra), *_judge_flags(recipe["judge"])]


def stage_commands(recipe: dict) -> dict[str, list[tuple[list[str], str]]]:
    """Per stage, its commands and, for each, the file whose presence means it is done.

    An Omni policy (`recipe["policy"] == "omni"`) runs the same commands with `--system omni` evaluations; its SFT
    folder holds the thinker's LoRA, `merged` the whole Omni with it merged, and the reward model's base is an audio
    LLM (`distill.model`, else the distill config's `model_name_or_path`), not the Omni."""
    base, train = recipe["base_model"], recipe["train"]
    sft_dir = recipe["sft"]["output_dir"]
    merged = os.path.join(sft_dir, "merged")
    prompts = {"dataset_config": train.get("config", "sample"), "dataset_split": train.get("split", "test"),
               "limit": train.get("limit")}
    sample, distill, grpo = recipe["sample"], recipe["distill"], recipe["grpo"]
    reward_model = distill.get("model") or (None if recipe.get("policy") == "omni" else base)
    reward_base = ["--model_name_or_path", reward_model] if reward_model else []
    commands = {
        "sft": [([*_script("train_sft.py", recipe["sft"]), "--model_name_or_path", base, *_flags(prompts),
                  "--output_dir", sft_dir, "--merge_output_dir", merged, *_flags(recipe["sft"].get("args", {}))],
                 os.path.join(merged, "config.json"))],
        "sample": [(_evaluate(recipe, merged, sample["output_dir"], "sft-samples", "train",
                              {"num_samples": sample.get("num_samples", 4), "temperature": sample.get("temperature", 1.0),
                               **sample.get("args", {})}),
                    os.path.join(sample["output_dir"], "report.json"))],
        "distill": [([*_script("train_reward_model.py", distill), *reward_base,
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
        recipe = load_recipe(args.config, online=not args.dry_run)
    except ValueError as e:
        print(f"parass2s_loop: error: {e}", file=sys.stderr)
        return 2
    if not args.dry_run:
        from parass2s_hf.models import ModelCheck, PreflightError, judge_checks, preflight

        try:  # what exists before the loop starts: the base and the judge (the later stages check their own inputs)
            role = "omni" if recipe["policy"] == "omni" else "audio_llm"
            preflight([ModelCheck("base_model", recipe["base_model"], role),
                       *judge_checks(recipe["judge"], prefix="judge.")])
        except PreflightError as e:
            print(f"parass2s_loop: error: {e}", file=sys.stderr)
            return 2
    os.makedirs(recipe["work_dir"], exist_ok=True)
    run(recipe, args.stages, args.redo, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
