"""`parass2s evaluate` and `parass2s compare`.

```
parass2s evaluate --system omni --model Qwen/Qwen2.5-Omni-7B --dataset_config synthetic --output runs/omni
parass2s evaluate --system precomputed --responses my_outputs/ --dataset_config all --output runs/mine
parass2s evaluate --system cascade --asr openai/whisper-large-v3 --llm Qwen/Qwen2.5-7B-Instruct --tts espeak-ng \
    --output runs/pipeline
parass2s evaluate --config recipe.yaml         # the same arguments from a YAML file (flags given win)
parass2s evaluate --system policy --model base/ --adapter runs/grpo --dataset_config sample --output runs/policy
parass2s evaluate --system omni --model Qwen/Qwen2.5-Omni-7B --signals asr --output runs/omni  # + WER, speaking rate
parass2s compare runs/* --output leaderboard   # one leaderboard table and one figure for several runs
```
Judge settings are `JudgeConfig`'s fields prefixed `judge_` (e.g. `--judge_mode reward_model`); `--help` lists all.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import cli_style
from ..cli_style import DefaultsHelpFormatter, HelpFormatter, add_config_file, add_verbosity, dash_aliases, examples
from ..io import FolderLockedError
from .arguments import JudgeArguments, SystemArguments
from .config import EvaluationConfig


def build_parser():
    """The `HfArgumentParser` of an evaluation: `(SystemArguments, EvaluationConfig, JudgeArguments)`, each its own
    group in `--help`, plus `--config FILE`, `--quiet` and `--log_level`."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser((SystemArguments, EvaluationConfig, JudgeArguments), prog="parass2s evaluate",
                              usage="%(prog)s --system SYSTEM --output DIR [--dataset_config NAME] [options]\n"
                                    "       %(prog)s --config FILE [options]",
                              description="Evaluate a speech-to-speech system on ParaS2SBench: its responses are "
                                          "judged for content and speaking-style fit, and report.md gives the "
                                          "paper's Table 4 with bootstrap intervals.",
                              epilog=examples(__doc__, only="parass2s evaluate"), formatter_class=DefaultsHelpFormatter)
    add_config_file(parser)
    add_verbosity(parser)
    return dash_aliases(parser)


def parse_args(argv: list[str] | None = None) -> tuple:
    """Parse command-line arguments into the three dataclasses. `--config FILE` (or a lone YAML file, the older
    form) gives the arguments from a YAML file; flags on the command line win over it. `--config NAME` of a dataset
    config still works for one release (use `--dataset_config NAME`)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        argv = ["--config", argv[0]]
    argv = _dataset_config_alias(argv)
    path = cli_style.option_value(argv, ("--config",))
    if path is not None:
        parser.set_defaults(**cli_style.read_config_file(parser, os.path.abspath(path)))
    system_args, config, judge_args, extra = parser.parse_args_into_dataclasses(argv, look_for_args_file=False)
    cli_style.apply_verbosity(extra.log_level, extra.quiet)
    return system_args, config, judge_args


def _dataset_config_alias(argv: list[str]) -> list[str]:
    """`--config NAME` where NAME is not a YAML file: the dataset config, as before (deprecated, one release)."""
    out = list(argv)
    for i, arg in enumerate(out):
        name = out[i + 1] if arg == "--config" and i + 1 < len(out) else (arg.split("=", 1)[1]
                                                                          if arg.startswith("--config=") else None)
        if name is None or name.endswith((".yaml", ".yml")) or os.path.isfile(name):
            continue
        print(f"parass2s evaluate: --config {name} (a dataset config) is deprecated and goes in the next release: use "
              f"--dataset_config {name}; --config now takes a YAML file of arguments.", file=sys.stderr)
        if arg == "--config":
            out[i] = "--dataset_config"
        else:
            out[i] = f"--dataset_config={name}"
        break
    return out


EXIT_BAD_INPUT, EXIT_NOTHING_SCORED, EXIT_INTERRUPTED = 2, 3, 130
"""Exit codes of `parass2s evaluate`: 0 a report with scores; 2 bad input, a missing extra, a server that is down, a
folder in use, a system that failed alike on its whole first batch, or a judge that raised or whose server refused
its whole first batch alike (one line says which); 3 a finished run that
scored nothing (its reasons are in the failures of report.md); 130 interrupted (Ctrl-C): rerun to resume."""


def run_evaluation(system_args: SystemArguments, config: EvaluationConfig, judge_args, runners: list | None = None
                   ) -> dict:
    """Build the system and the judge and run the evaluation; returns the report. The runner is appended to `runners`
    when given (how the command line reports progress after Ctrl-C)."""
    from ..judge import ParaS2SJudge
    from ..models.preflight import judge_checks, preflight
    from ..s2s import build_system
    from .runner import EvaluationRunner

    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > 1 and config.num_shards == 1:  # torchrun / accelerate launch: one shard per process
        config.num_shards, config.shard_index = world, int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if _cuda_available():  # each process on its own GPU, unless the settings say where
            device = f"cuda:{local}"
            system_args.system_device_map = system_args.system_device_map or device
            judge_args.judge_device_map = judge_args.judge_device_map or device
    judge_config = judge_args.to_config()
    # Every model and endpoint, checked before any data is prepared or any model loaded (config files only).
    preflight([*system_args.model_checks(), *judge_checks(judge_config), *signal_checks(config, judge_config)])
    if judge_config.cache_dir is None:  # perception is reused when the same run folder is judged again
        judge_config.cache_dir = os.path.join(config.output_dir, "perception_cache")
    kwargs = system_args.to_kwargs()
    system = build_system(kwargs.pop("name"), **kwargs)
    runner = EvaluationRunner(system, ParaS2SJudge(judge_config), config)
    if runners is not None:
        runners.append(runner)
    return runner.run()


def signal_checks(config: EvaluationConfig, judge_config) -> list:
    """The checks (`models.preflight`) of the models the signals will use: the judge's `asr_model` for `--signals
    asr` where the judge itself does not transcribe (the multi-stage judge's checks hold it already), and
    `--quality_model` (an audio classifier whose labels read as numbers)."""
    from ..models.preflight import EndpointCheck, ModelCheck
    from .signals import quality_label_values

    checks = []
    if config.signals == "asr" and judge_config.mode != "multistage":
        checks.append(EndpointCheck("--judge_asr_api_base", judge_config.asr_api_base, judge_config.asr_model,
                                    judge_config.api_key_env, "asr", model_setting="--judge_asr_model")
                      if judge_config.asr_api_base else
                      ModelCheck("--judge_asr_model", judge_config.asr_model, "asr",
                                 bool(judge_config.trust_remote_code)))
    if config.quality_model:
        model = ModelCheck("--quality_model", config.quality_model, "audio_classifier")

        def quality():  # a checkpoint of the right kind, then labels that read as numbers (config files only)
            model()
            try:
                quality_label_values(config.quality_model)
            except ValueError as e:
                raise ValueError(f"--quality_model: {e}") from None

        checks.append(quality)
    return checks


def _cuda_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _scores_table(markdown: str) -> list[str]:
    """The lines of the report's first table (the Table 4 rows)."""
    lines, started = [], False
    for line in markdown.splitlines():
        if line.startswith("|"):
            started = True
            lines.append(line)
        elif started:
            break
    return lines


def evaluate_main(argv: list[str] | None = None) -> int:
    from .runner import RunStopped

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runners: list = []
    try:
        system_args, config, judge_args = parse_args(argv)
        report = run_evaluation(system_args, config, judge_args, runners)
    except KeyboardInterrupt:
        where = ""
        if runners:
            judged, planned = runners[0].progress()
            where = f" after {judged} of {planned} items"
        print(f"\nparass2s evaluate: interrupted{where}; run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, ImportError, ConnectionError, FolderLockedError, RunStopped) as e:  # bad input, a missing
        # extra, a server that is down, a folder in use, a broken system: one clear line, not a traceback
        print(f"parass2s evaluate: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = os.path.abspath(config.output_dir)
    if report is None:  # a shard whose siblings are still at work: the last one to finish writes the report
        pending = getattr(runners[0], "pending", 0) if runners else 0
        print(f"parass2s evaluate: shard {config.shard_index} of {config.num_shards} is done"
              + (f"; {pending} item(s) of other shards remain. The last shard to finish writes the report into {out}"
                 f" (or run `parass2s report {out}` when they are done)." if pending else
                 f"; another shard is writing the report into {out}."))
        return 0
    with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
        print("\n".join(_scores_table(f.read())))
    print("\nreport: " + ", ".join(os.path.join(out, name) for name in ("report.md", "report.json", "report.png")))
    if not report["counts"]["total"]["items_scored"]:
        print(f"parass2s evaluate: error: no item was scored; the reasons are in the failures of "
              f"{os.path.join(out, 'report.md')}.", file=sys.stderr)
        return EXIT_NOTHING_SCORED
    return 0


def compare_main(argv: list[str] | None = None) -> int:
    from .leaderboard import compare_runs

    parser = argparse.ArgumentParser(
        prog="parass2s compare", description="Leaderboard of several evaluation runs (their absolute scores), or with "
        "--pairwise a Bradley-Terry leaderboard from the pairwise judgements of `parass2s versus` folders.",
        formatter_class=HelpFormatter,
        epilog="examples:\n  parass2s compare runs/* --output leaderboard\n  parass2s compare --config compare.yaml"
               "             # runs: [runs/a, runs/b], output: leaderboard\n"
               "  parass2s compare --pairwise vs/* --output leaderboard   # versus folders: pairwise_leaderboard.md")
    parser.add_argument("runs", nargs="*", help="run folders (each with report.json); with --pairwise, versus "
                                                "folders (each with versus.json)")
    parser.add_argument("--pairwise", action="store_true",
                        help="the folders are `parass2s versus` outputs: fit Bradley-Terry strengths to their "
                             "preferences and write pairwise_leaderboard.md/.json/.png (the runs' absolute scores "
                             "beside them, where the runs have a report.json); nothing is judged")
    parser.add_argument("--n_resamples", type=int, default=None,
                        help="with --pairwise: bootstrap resamples of the strengths' intervals (default 2000; 0: none)")
    parser.add_argument("--seed", type=int, default=None, help="with --pairwise: the bootstrap's seed (default 0)")
    parser.add_argument("--output", default="leaderboard",
                        help="folder for leaderboard.md/.json/.png (pairwise_leaderboard.* with --pairwise)")
    add_config_file(parser)
    add_verbosity(parser)
    args = cli_style.parse_args(dash_aliases(parser), argv)
    if not args.runs:
        parser.error("give the " + ("versus" if args.pairwise else "run") + " folders to compare (or `runs:` in "
                     "--config FILE)")
    if not args.pairwise and (args.n_resamples is not None or args.seed is not None):
        parser.error("--n_resamples and --seed apply with --pairwise only (a run's intervals are in its report)")
    try:
        if args.pairwise:
            from .pairwise_board import DEFAULT_RESAMPLES, pairwise_leaderboard

            result = pairwise_leaderboard(args.runs, output_dir=args.output,
                                          n_resamples=DEFAULT_RESAMPLES if args.n_resamples is None
                                          else args.n_resamples, seed=args.seed or 0)
        else:
            versus = [d for d in args.runs if os.path.isfile(os.path.join(d, "versus.json"))
                      and not os.path.isfile(os.path.join(d, "report.json"))]
            if versus:
                raise ValueError(f"{', '.join(repr(d) for d in versus)}: a `parass2s versus` output, not an "
                                 f"evaluation run; use `parass2s compare --pairwise` for versus folders.")
            result = compare_runs(args.runs, output_dir=args.output)
    except ValueError as e:
        print(f"parass2s compare: error: {e}", file=sys.stderr)
        return 2
    print(result["markdown"])
    if args.pairwise:
        print("pairwise leaderboard: " + ", ".join(result["paths"].values()))
    return 0
