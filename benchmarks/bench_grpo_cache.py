"""The GRPO step with and without the audio-tower cache and the parallel reply rendering, interleaved in one run (CPU).

    python benchmarks/bench_grpo_cache.py                  # 8 measured steps of each trainer, interleaved
    python benchmarks/bench_grpo_cache.py --write-results

Two `ParaS2SGRPOTrainer`s on the same tiny Qwen2-Audio policy (LoRA r=4 on the language model's q/v), the tiny
Qwen2-Audio judge in reward_model mode and espeak-ng: "before" (`cache_audio_tower=False`, `render_workers=1`) and
"after" (`cache_audio_tower=True`, `render_workers=2`), 4 prompts x 4 generations per step from ParaS2SBench `sample`,
16 completion tokens at most. Their steps alternate (which goes first alternates too), one warm-up step each. Per
step: the audio tower's clips and seconds (a forward hook on the tower, so cached rows cost nothing there), the
reward's rendering wall time, and the whole step. Tiny random models: the figures are the pipeline's overhead, not a 7B
model's cost; on a GPU the tower is a larger share.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time

from bench_grpo import LORA_TARGETS, Stepper, Timer, spoken_prompts  # benchmarks/ is the script's folder, on sys.path
from results_file import write_section

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SECTION = "## bench_grpo_cache.py"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8, help="measured steps of each trainer")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    import torch
    from peft import LoraConfig

    from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer
    from parass2s_hf.judge import JudgeConfig, ParaS2SJudge
    from parass2s_hf.models.audio_cache import AudioTowerCache
    from parass2s_hf.testing import build_tiny_checkpoints

    folder = tempfile.mkdtemp(prefix="bench_grpo_cache_")
    tiny = build_tiny_checkpoints(os.path.join(folder, "tiny"))
    prompts = spoken_prompts()
    judge = ParaS2SJudge(JudgeConfig(mode="reward_model", audio_llm=tiny["audio_llm"]))
    steps = args.steps + 1

    def build(name, cache, workers):
        cfg = ParaS2SGRPOConfig(
            output_dir=os.path.join(folder, name), per_device_train_batch_size=16, num_generations=4,
            max_completion_length=16, max_steps=steps, beta=0.2, learning_rate=1e-3, bf16=False, use_cpu=True,
            report_to="none", logging_steps=10**6, activation_checkpointing=False, save_strategy="no", seed=0,
            cache_audio_tower=cache, render_workers=workers,
            judge_config={"mode": "reward_model", "audio_llm": tiny["audio_llm"]})
        trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=cfg, train_dataset=prompts, judge=judge,
                                     peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS))
        tower = AudioTowerCache.find_tower(trainer.model)
        probe = {"clips": 0, "seconds": 0.0}

        def pre(module, args_, kwargs_):
            probe["tic"] = time.perf_counter()

        def post(module, args_, kwargs_, output):
            probe["seconds"] += time.perf_counter() - probe["tic"]
            probe["clips"] += int(args_[0].shape[0]) if args_ else 0

        # on the original forward: with the cache, only the clips it really encodes reach these hooks
        inner = tower._parass2s_cache.original if getattr(tower, "_parass2s_cache", None) else None
        if inner is not None:
            def timed(features, attention_mask=None, **kwargs):
                pre(None, (features,), {})
                out = inner(features, attention_mask=attention_mask, **kwargs)
                post(None, (features,), {}, out)
                return out

            tower._parass2s_cache.original = timed
        else:
            tower.register_forward_pre_hook(pre, with_kwargs=True)
            tower.register_forward_hook(post, with_kwargs=True)
        return {"trainer": trainer, "stepper": Stepper(trainer, steps), "probe": probe, "rows": []}

    runs = {"before": build("before", False, 1), "after": build("after", True, 2)}
    for i in range(steps):
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        for name in order:
            run = runs[name]
            reward = run["trainer"].reward_funcs[0]
            reward.timings.clear()
            run["probe"].update(clips=0, seconds=0.0)
            torch.manual_seed(i)
            tic = time.perf_counter()
            run["stepper"].step(Timer())
            step = time.perf_counter() - tic
            if i:
                run["rows"].append({"step": step, "tower_s": run["probe"]["seconds"],
                                    "tower_clips": run["probe"]["clips"], "render": reward.timings["render"]})
    med = {name: {k: statistics.median(r[k] for r in run["rows"]) for k in run["rows"][0]}
           for name, run in runs.items()}
    b, a = med["before"], med["after"]
    lines = [
        ("audio tower clips per step (4 distinct prompts)", f"{b['tower_clips']:.0f}", f"{a['tower_clips']:.0f}", ""),
        ("audio tower, ms per step", f"{1000 * b['tower_s']:.1f}", f"{1000 * a['tower_s']:.1f}",
         f"{b['tower_s'] / max(a['tower_s'], 1e-9):.1f}x less"),
        ("rendering the 16 replies, ms per step", f"{1000 * b['render']:.1f}", f"{1000 * a['render']:.1f}",
         f"{b['render'] / max(a['render'], 1e-9):.2f}x less"),
        ("whole step, ms", f"{1000 * b['step']:.1f}", f"{1000 * a['step']:.1f}", f"{b['step'] / a['step']:.2f}x"),
    ]
    table = (f"| median of {args.steps} steps | before (no cache, 1 render worker) | after (cache, 2 render workers) | ratio |\n"
             "|---|---|---|---|\n") + "\n".join(f"| {x} | {y} | {z} | {r} |" for x, y, z, r in lines)
    print(table)
    from importlib.metadata import version

    entry = (f"\n{SECTION}, {datetime.date.today().isoformat()}\n\n"
             f"{__doc__.split(chr(10) + chr(10))[1].strip()}\n"
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads. "
             f"Python {platform.python_version()}, parass2s_hf {version('parass2s_hf')}, transformers "
             f"{version('transformers')}, trl {version('trl')}, torch {version('torch')}.\n"
             f"Command: `python benchmarks/bench_grpo_cache.py --write-results`\n\n{table}\n")
    if args.write_results:
        print("written to", write_section(SECTION, entry))


if __name__ == "__main__":
    sys.exit(main())
