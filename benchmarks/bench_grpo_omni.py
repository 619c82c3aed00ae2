"""GRPO step cost of an Omni policy with and without `train_talker` (the talker's codec tokens in the loss).

    python benchmarks/bench_grpo_omni.py                      # 4 measured steps (+1 warm-up) per setting, CPU
    python benchmarks/bench_grpo_omni.py --steps 6 --talker-tokens 24 --write-results

The tiny random Qwen2.5-Omni (`parass2s_hf.testing.build_tiny_omni(..., audible=True)`) as the policy (LoRA r=4 on
its thinker's language model q/v projections), the tiny Qwen2-Audio judge in reward_model mode, the `sample` prompts,
`--batch` completions per step (`--generations` per prompt), `--completion-tokens` thinker tokens, the talker cut at
`--talker-tokens` codec tokens, 2 vocoder steps, beta 0.2, float32 on the CPU: the recipe of
`examples/configs/grpo_omni_cpu_smoke.yaml`. Each setting ("off": the talker frozen; "on": `train_talker=True`, talker
LoRA r=4 on its decoder's seven linear layers) trains in its own subprocess, so its peak resident memory
(`ru_maxrss`) is its own; the settings run alternately, `--repeats` times each. A step is `Trainer`'s optimizer step
(timed by a callback from `on_step_begin` to `on_step_end`: generation, speaking, judging, log-probs, loss, backward,
optimizer), the first one dropped as warm-up; medians over the rest. With `train_talker` the time inside the talker's
term (its teacher-forced forwards, `_talker_loss`; its backward is part of the step's backward) and in the old
log-probs are reported too.

On a tiny model the figures say what the code adds, not what a 7B model costs: the talker's forward with gradients is
cheap next to the thinker's generation, the judge and the vocoder here. `examples/configs/grpo_omni_qlora.yaml`
carries the estimate for Qwen2.5-Omni-7B.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from results_file import write_section  # benchmarks/ is the script's folder, on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "HF_HOME" not in os.environ:  # a private cache: nothing read from or left in the user's
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="bench_grpo_omni_hf_")
    os.environ["HF_DATASETS_CACHE"] = os.path.join(os.environ["HF_HOME"], "datasets")

SECTION = "## bench_grpo_omni.py"


def run_setting(args) -> dict:
    """One setting, in this (child) process: train `steps + 1` steps, return the timings and the peak RSS."""
    import torch
    from peft import LoraConfig
    from transformers import TrainerCallback

    import parass2s_hf
    from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer

    torch.manual_seed(args.seed)
    prompts = parass2s_hf.load_parass2sbench("sample", split="test")
    config = ParaS2SGRPOConfig(
        output_dir=os.path.join(args.folder, f"run_{args.setting}"), per_device_train_batch_size=args.batch,
        num_generations=args.generations, max_completion_length=args.completion_tokens, max_steps=args.steps + 1,
        bf16=False, use_cpu=True, report_to="none", logging_steps=1, learning_rate=1e-3, beta=0.2,
        activation_checkpointing=False, save_strategy="no", seed=args.seed,
        judge_config={"mode": "reward_model", "audio_llm": args.judge}, omni_speaker="Chelsie",
        omni_generate_kwargs={"talker_max_new_tokens": args.talker_tokens, "talker_eos_token_id": [61],
                              "token2wav_num_steps": 2},
        train_talker=args.setting == "on", talker_lora_r=4, talker_lora_alpha=8)
    trainer = ParaS2SGRPOTrainer(model=args.omni, args=config, train_dataset=prompts,
                                 peft_config=LoraConfig(r=4, lora_alpha=8,
                                                        target_modules=r".*language_model.*\.(q_proj|v_proj)"))
    steps, inside = [], {"talker_loss": [], "old_logps": []}

    class Steps(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.tic = time.perf_counter()

        def on_step_end(self, *a, **k):
            steps.append(time.perf_counter() - self.tic)

    trainer.add_callback(Steps())
    for name, key in (("_talker_loss", "talker_loss"), ("_capture_talker_batch", "old_logps")):
        original = getattr(trainer, name)

        def timed(*a, _original=original, _key=key, **k):
            tic = time.perf_counter()
            try:
                return _original(*a, **k)
            finally:
                inside[_key].append(time.perf_counter() - tic)

        setattr(trainer, name, timed)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "parass2s/talker_codec_tokens" in e]
    talker_lora = sum(p.numel() for p in trainer.talker_params)
    return {"setting": args.setting, "steps": steps[1:], "talker_loss_s": inside["talker_loss"][1:],
            "capture_s": inside["old_logps"][1:],
            "codec_tokens": [e["parass2s/talker_codec_tokens"] for e in logs[1:]],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "talker_lora_params": talker_lora, "threads": torch.get_num_threads()}


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4, help="measured steps per run (one warm-up step more)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setting, alternately")
    parser.add_argument("--batch", type=int, default=4, help="completions per step")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--completion-tokens", type=int, default=8, help="the thinker's token budget")
    parser.add_argument("--talker-tokens", type=int, default=6, help="the talker's codec token budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-results", action="store_true", help="replace this script's section of RESULTS.md")
    parser.add_argument("--setting", choices=("off", "on"), help=argparse.SUPPRESS)  # the child's
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--omni", help=argparse.SUPPRESS)
    parser.add_argument("--judge", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setting:  # a child: one setting, its result as the last line
        print("RESULT " + json.dumps(run_setting(args)), flush=True)
        return

    from parass2s_hf.testing import build_tiny_checkpoints, build_tiny_omni

    folder = tempfile.mkdtemp(prefix="bench_grpo_omni_")
    omni = build_tiny_omni(os.path.join(folder, "omni"), audible=True)
    judge = build_tiny_checkpoints(os.path.join(folder, "tiny"))["audio_llm"]
    runs = {"off": [], "on": []}
    for _ in range(args.repeats):
        for setting in ("off", "on"):
            command = [sys.executable, os.path.abspath(__file__), "--setting", setting, "--folder", folder, "--omni",
                       omni, "--judge", judge] + [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in (
                           "steps", "batch", "generations", "completion_tokens", "talker_tokens", "seed")]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            [line] = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            runs[setting].append(json.loads(line[len("RESULT "):]))
            print(f"{setting}: steps {[round(t, 2) for t in runs[setting][-1]['steps']]} s, peak RSS "
                  f"{runs[setting][-1]['peak_rss_mib']:.0f} MiB", flush=True)

    def pooled(setting, key):
        return [v for run in runs[setting] for v in run[key]]

    off_step, on_step = median(pooled("off", "steps")), median(pooled("on", "steps"))
    off_rss = max(r["peak_rss_mib"] for r in runs["off"])
    on_rss = max(r["peak_rss_mib"] for r in runs["on"])
    n = len(pooled("off", "steps"))
    header = (f"Tiny random Qwen2.5-Omni policy (LoRA r=4 on the thinker's q/v), tiny Qwen2-Audio judge, {args.batch} "
              f"completions per step ({args.generations} per prompt), {args.completion_tokens} thinker tokens, at most "
              f"{args.talker_tokens} codec tokens, beta 0.2, float32 on the CPU ({runs['on'][0]['threads']} torch "
              f"threads); each setting in its own process, {args.repeats} run(s) of {args.steps} measured steps (+1 "
              f"warm-up), medians over the {n} steps.")
    table = ("| setting | step, median (s) | talker term forward, median (s) | talker batch kept (old log-probs only when needed), median (s) | "
             "codec tokens per step | peak RSS (MiB) |\n|---|---|---|---|---|---|\n"
             f"| train_talker off | {off_step:.2f} | - | - | - | {off_rss:.0f} |\n"
             f"| train_talker on (talker LoRA r=4, {runs['on'][0]['talker_lora_params']} parameters) | {on_step:.2f} | "
             f"{median(pooled('on', 'talker_loss_s')):.3f} | {median(pooled('on', 'capture_s')):.3f} | "
             f"{median(pooled('on', 'codec_tokens')):.0f} | {on_rss:.0f} |\n\n"
             f"train_talker on / off: step time x{on_step / off_step:.2f}, peak RSS x{on_rss / off_rss:.2f}. Median "
             f"step of each run, in the order run (off, on, off, on, ...): "
             + ", ".join(f"{median(r['steps']):.2f}" for pair in zip(runs["off"], runs["on"]) for r in pair) + " s.")
    print("\n" + header + "\n\n" + table)
    if args.write_results:
        import peft
        import torch
        import transformers
        import trl

        import parass2s_hf

        versions = (f"Python {platform.python_version()}, parass2s_hf {parass2s_hf.__version__}, trl {trl.__version__}, "
                    f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__}")
        entry = (f"\n{SECTION}, {datetime.date.today().isoformat()}\n\n"
                 f"GRPO with a Qwen2.5-Omni policy, with and without `train_talker` (the talker's codec tokens in the "
                 f"loss). {header}\n"
                 f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. {versions}.\n"
                 f"Command: `python benchmarks/bench_grpo_omni.py {' '.join(sys.argv[1:])}`\n\n{table}\n\n"
                 "On the tiny model these say what the code adds, not what a 7B model costs; the estimate for "
                 "Qwen2.5-Omni-7B is in `examples/configs/grpo_omni_qlora.yaml`.\n")
        print(f"written to {write_section(SECTION, entry)}")


if __name__ == "__main__":
    main()
